// The student's page: code -> attempts -> file -> presigned form -> straight to S3 -> receipt. In a
// timed exam the student starts their own time first (the server's clock), then gets the paper.
"use strict";
// In a course's frame, a browser blocking third-party storage refuses sessionStorage: the tab keeps
// the code from the course in memory then (a reload there asks the student to open the exam again).
try { sessionStorage; } catch (err) { Object.defineProperty(window, "sessionStorage", { value: { getItem(k) { return k in this ? this[k] : null; }, setItem(k, v) { this[k] = String(v); }, removeItem(k) { delete this[k]; } } }); }
// A link from the student's invitation carries their code in its fragment (#code=…), which reaches
// no server, no log and no Referer. The fragment leaves the address bar and the history entry
// first, before anything else reads the page's address: a bookmark, a shared screen or the back
// button does not keep it. Any other fragment goes too (the page has no anchors).
// A student launched from their course comes with a one-time ticket instead (#ticket=…, forgotten
// the same way), which the page exchanges for their code.
function takeLink() {
  const fragment = window.location.hash;
  if (!fragment) return null;
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
  let text = "";
  try { text = decodeURIComponent(fragment); } catch (err) { text = ""; }
  const found = /^#code=([0-9A-Za-z -]{1,64})$/.exec(text);
  const ticket = /^#ticket=([A-Za-z0-9_-]{16,128})$/.exec(text);
  return {
    code: found ? found[1] : null, meant: fragment.startsWith("#code"),
    ticket: ticket ? ticket[1] : null, fromCourse: fragment.startsWith("#ticket"),
  };
}
const linked = takeLink();
const api = document.body.dataset.api;
const MAX_BYTES = 3 * 1024 * 1024;
const $ = (id) => document.getElementById(id);
const { t } = i18n;
let code = null;
let progress = null; // the last answer about this student: what the page shows
let retry = null;
let uploading = false;
let starting = false;
let scanTimer = null;
const SCAN_EVERY_MS = 3000; // how often the page asks whether the malware check has ended

// What the live regions say, kept as messages (i18n.js) that the language switch says again.
const { message: words, problemMessage: problemText, show } = i18n;
const said = { status: null, error: null };
function say(message) { said.status = message; show($("status"), message); }
const waiting = serviceRetry.noticeIn($("status")); // "busy, retrying in 4 s…" while a request waits
function fail(message, retryWith) {
  said.error = message;
  show($("error"), message);
  $("error").hidden = false;
  retry = retryWith || null;
  $("retry").hidden = !retry;
  say(null);
}
function clearError() { said.error = null; $("error").hidden = true; $("retry").hidden = true; retry = null; }
const advice = (gaveUp) => () => serviceRetry.advice(gaveUp);
function updateUploadButton() { $("upload-button").disabled = uploading || $("file").files.length === 0; }

// Time: the server's clock, not the laptop's (a wrong laptop clock must not move a deadline).
let clockOffset = 0; // server time minus this browser's time, in ms
let ticker = null;
const ownZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
function now() { return new Date(Date.now() + clockOffset); }
const inZone = (iso, zone) => i18n.date(iso, { zone, weekday: true });
const when = (iso) => inZone(iso, ownZone);
// A length of time given in seconds, in whole parts: "3 h 45 min", "1 min 20 s".
function lasting(seconds) {
  const parts = [
    ["time.part.days", Math.floor(seconds / 86400)], ["time.part.hours", Math.floor((seconds % 86400) / 3600)],
    ["time.part.minutes", Math.floor((seconds % 3600) / 60)], ["time.part.seconds", Math.floor(seconds % 60)],
  ].filter(([, count]) => count > 0);
  return parts.map(([key, count]) => t(key, { count: i18n.number(count) })).join(" ") || t("time.part.minutes", { count: 0 });
}
function span(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d > 0) return t("time.days-hours", { days: d, hours: h });
  if (h > 0) return t("time.hours-minutes", { hours: h, minutes: m });
  return t("time.minutes-seconds", { minutes: m, seconds: s % 60 });
}
function phase() {
  const exam = progress.exam;
  const at = now();
  if (at < new Date(exam.opens_at)) return "not-open";
  if (at >= new Date(exam.cutoff_at)) return "closed";
  return at > new Date(exam.due_at) ? "late" : "open";
}
// A time in the exam's zone, and the student's own below it when that differs.
function showTime(examElement, localElement, iso) {
  const zone = progress.exam.timezone;
  examElement.textContent = t("time.in-zone", { time: inZone(iso, zone), zone });
  localElement.textContent = zone === ownZone ? "" : t("time.yours", { time: when(iso) });
}
// The same, in one line.
function bothTimes(iso) {
  const zone = progress.exam.timezone;
  if (zone === ownZone) return t("time.in-zone", { time: inZone(iso, zone), zone });
  return t("time.in-zone-and-yours", { time: inZone(iso, zone), zone, yours: when(iso) });
}

// A timed exam: `timing` is null in an untimed one. Before the student starts, the window shown is
// the exam's (or their extension's); once started, the API's window is their own.
const notStarted = () => Boolean(progress.timing && !progress.timing.started_at);
const hasStarted = () => Boolean(progress.timing && progress.timing.started_at);

// The exam's window, in the exam's time zone and the student's own, and what it means now.
function showWindow() {
  const exam = progress.exam;
  const canUpload = progress.attempts_left > 0;
  const p = phase();
  const due = new Date(exam.due_at), cutoff = new Date(exam.cutoff_at), opens = new Date(exam.opens_at);
  showTime($("due-exam"), $("due-local"), exam.due_at);
  const hasLate = cutoff > due;
  $("cutoff-label").hidden = $("cutoff-value").hidden = !hasLate;
  showTime($("cutoff-exam"), $("cutoff-local"), exam.cutoff_at);
  const at = now();
  // Not started yet, a timed exam's due time is the last moment to start; after it, no time is left.
  const waiting = notStarted();
  $("started-label").hidden = $("started-value").hidden = !hasStarted();
  if (hasStarted()) showTime($("started-exam"), $("started-local"), progress.timing.started_at);
  $("window-state").textContent = {
    "not-open": () => t("upload.window.not-open", {
      time: inZone(exam.opens_at, exam.timezone), yours: when(exam.opens_at),
    }),
    open: () => t(hasStarted() ? "upload.window.running" : "upload.window.open"),
    late: () => (waiting ? t("upload.window.no-time-left") : hasLate ? t("upload.window.late") : ""),
    closed: () => t("upload.window.closed", { time: inZone(exam.cutoff_at, exam.timezone) }),
  }[p]();
  $("countdown").textContent = {
    "not-open": () => t("upload.countdown.opens", { span: span(opens - at) }),
    open: () => t(waiting ? "upload.countdown.start-until" : "upload.countdown.due", { span: span(due - at) }),
    late: () => (waiting ? "" : t("upload.countdown.late", { span: span(cutoff - at) })),
    closed: () => "",
  }[p]();
  showTimed(p);
  warnNearTheEnd(p);
  // The paper: a timed exam's once started, an untimed exam's from its opening; until the cut-off.
  $("paper").hidden = !progress.exam.has_paper || waiting || !(p === "open" || p === "late");
  // After the due time, what a new upload would do to the file on record, before it is chosen.
  const current = progress.current;
  $("late-warning").hidden = p !== "late" || waiting;
  if (p === "late" && !waiting) {
    if (!current) $("late-warning").textContent = t("upload.late.no-file");
    else if (current.late) $("late-warning").textContent = t("upload.late.replaces-late");
    else i18n.render($("late-warning"), "upload.late.on-time-kept", { file: strong(current.filename) });
  }
  $("file-form").hidden = !canUpload || waiting || p === "not-open" || p === "closed";
  return p;
}

// Not started: how long the student will have, and the Start button while starting is possible.
function showTimed(p) {
  const timing = progress.timing;
  $("timed").hidden = !notStarted() || p === "late" || p === "closed";
  if ($("timed").hidden) return;
  const duration = lasting(progress.exam.duration_minutes * 60);
  const extra = extraTime(timing);
  $("timed-summary").textContent = extra
    ? t("upload.timed.summary-extra", { duration, extra, time: lasting(timing.time_allowed_seconds) })
    : t("upload.timed.summary", { time: duration });
  $("start-button").hidden = p !== "open";
}
function extraTime(timing) {
  const percent = timing.extra_time_percent ? i18n.number(timing.extra_time_percent / 100, { style: "percent" }) : null;
  const minutes = timing.extra_time_minutes ? lasting(timing.extra_time_minutes * 60) : null;
  return percent && minutes ? t("upload.timed.extra-both", { percent, minutes }) : percent || minutes;
}

// Started: a warning said once as the student's own due time comes within 10, 5 and 1 minutes
// (role=alert: a screen reader says it at once; the countdown itself is not live).
const WARNING_MARKS = [10, 5, 1];
let warned = { due: null, mark: null };
function warnNearTheEnd(p) {
  const box = $("time-warning");
  if (!hasStarted() || p !== "open") { box.hidden = true; return; }
  const due = progress.exam.due_at;
  if (warned.due !== due) warned = { due, mark: null }; // a new due time (more time given): warned again
  const left = new Date(due) - now();
  const mark = WARNING_MARKS.filter((minutes) => left <= minutes * 60000).pop();
  if (mark === undefined) { box.hidden = true; return; }
  if (mark !== warned.mark) {
    warned.mark = mark;
    sayWarning();
  }
}
function sayWarning() {
  const box = $("time-warning");
  box.textContent = i18n.plural("upload.warning.left", warned.mark, { time: i18n.timeOfDay(warned.due, ownZone) });
  box.hidden = false;
}
function strong(text) {
  const element = document.createElement("strong");
  element.textContent = text;
  return element;
}

function startTicking() {
  if (ticker) clearInterval(ticker);
  let last = showWindow();
  ticker = setInterval(() => {
    const p = showWindow();
    const news = { open: "upload.now.open", late: "upload.now.late", closed: "upload.now.closed" }[p];
    if (p !== last && news) say(words(news));
    last = p;
  }, 1000);
}

// Every call of this page but the course's ticket may be sent again (retry.js) after a timeout, a
// lost answer or a 503 `service-unavailable`: the lookups and polls are GETs, and a form asked for
// twice leaves an unused form behind, which costs no attempt and expires with its policy. A ticket
// works once: sent again after a lost answer, it would only be refused as used. Only a repeat after one
// of those can (a 429, or a busy or starting 503, made no form), and one request is sent at most ten times: a student could reach the ten open
// forms allowed only if every one of them failed after its form was made, and is then told to
// wait until they expire.
async function call(method, path, body, repeatable = true) {
  const sent = await serviceRetry.fetch(api + path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  }, { repeatable, notice: waiting });
  if (sent.gaveUp) return { gaveUp: sent.gaveUp }; // a network failure too, when repeatable
  if (sent.network) return { gaveUp: { reason: "network", waitMs: 0 } };
  const data = await sent.response.json().catch(() => ({}));
  return { status: sent.status, data };
}

// A receipt to keep, as a file (a compact JWS: any JOSE tool reads it).
function offerReceipt(link, current) {
  link.hidden = !current.receipt;
  if (!current.receipt) return;
  if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([current.receipt + "\n"], { type: "application/jwt" }));
  link.download = `receipt-${current.verification_code}.jwt`;
}

async function sha256Hex(file) {
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function showStudent() {
  $("student").hidden = false;
  const { exam, student } = progress;
  $("exam-title").textContent = exam.title;
  $("student-name").textContent = t("upload.student-name", { first: student.first_name, last: student.last_name });
  const left = progress.attempts_left;
  $("attempts").textContent = left === 0
    ? i18n.plural("upload.attempts.used-all", progress.attempts_used)
    : i18n.plural("upload.attempts.left", left);
  startTicking();
  showAccepted(exam);
  const current = progress.current;
  $("receipt").hidden = !current;
  if (!current) return;
  // One presentation of the file on record, on time as plainly as late.
  $("receipt-title").textContent = t(current.late ? "upload.handed-in.late" : "upload.handed-in.on-time");
  $("receipt").classList.toggle("late", current.late);
  $("receipt-file-name").textContent = current.filename;
  $("receipt-size").textContent = i18n.size(current.size_bytes);
  $("receipt-time").textContent = when(current.submitted_at);
  $("receipt-sha").textContent = current.sha256;
  $("receipt-code").textContent = current.verification_code;
  // After that the file is deleted: only what the examiner collected by then remains.
  const zone = progress.exam.timezone;
  $("current-kept").textContent = t("upload.kept", { time: inZone(current.expires_at, zone), zone });
  $("current-kept-local").textContent = zone === ownZone ? "" : t("time.yours", { time: when(current.expires_at) });
  offerReceipt($("receipt-file"), current);
  showScan(current);
}

// --- what the exam accepts, and what became of a file of another type --------------------------

// The kinds of file an exam may accept, as a sentence names them ("a PDF or a Word document").
const KINDS = {
  pdf: "kind.pdf", word: "kind.word", odt: "kind.odt", image: "kind.image", text: "kind.text", zip: "kind.zip",
};
// What a file was found to be by its bytes (the recorder's codes), as a sentence names it.
const FOUND = {
  pdf: "upload.found.pdf", docx: "upload.found.docx", docm: "upload.found.docm", xlsx: "upload.found.xlsx",
  pptx: "upload.found.pptx", odt: "upload.found.odt", ods: "upload.found.ods", odp: "upload.found.odp",
  zip: "upload.found.zip", rar: "upload.found.rar", "7z": "upload.found.7z", gzip: "upload.found.gzip",
  tar: "upload.found.tar", png: "upload.found.png", jpeg: "upload.found.jpeg", gif: "upload.found.gif",
  webp: "upload.found.webp", heif: "upload.found.heif", tiff: "upload.found.tiff", bmp: "upload.found.bmp",
  svg: "upload.found.svg", text: "upload.found.text", html: "upload.found.html", rtf: "upload.found.rtf",
  "ms-office-97": "upload.found.ms-office-97", "windows-program": "upload.found.windows-program",
  "linux-program": "upload.found.linux-program", "macos-program": "upload.found.macos-program",
  audio: "upload.found.audio", video: "upload.found.video",
  unknown: "upload.found.unknown",
};
// "a PDF or a Word document", in the reader's language.
function either(kinds) {
  const names = kinds.map((kind) => (KINDS[kind] ? t(KINDS[kind]) : kind));
  return new Intl.ListFormat(document.documentElement.lang, { type: "disjunction" }).format(names);
}
// The picker offers only what the exam accepts, and the form says so (any type: nothing said).
function showAccepted(exam) {
  const kinds = exam.accepted_types || [];
  $("accepts").hidden = kinds.length === 0;
  $("accepts").textContent = kinds.length ? t("upload.accepts", { kinds: either(kinds) }) : "";
  if (exam.accept) $("file").accept = exam.accept;
  else $("file").removeAttribute("accept");
}
// A file whose name's extension the picker's `accept` does not name (chosen with "All files") is
// refused before anything is sent, as the form would refuse it: by the name, which is what the
// reviewer's computer goes by (trailing dots and spaces dropped, as Windows drops them).
function acceptable(file) {
  const accept = progress.exam.accept;
  if (!accept) return true;
  const extensions = accept.split(",").map((token) => token.trim().toLowerCase()).filter((token) => token.startsWith("."));
  const name = file.name.toLowerCase().replace(/[. ]+$/, "");
  const dot = name.lastIndexOf(".");
  return dot >= 0 && extensions.includes(name.slice(dot));
}

// --- the malware check of the file on record ---------------------------------------------------

const SCAN_SAID = {
  scanning: "upload.scan.scanning", clean: "upload.scan.clean", threat: "upload.scan.threat",
  unsupported: "upload.scan.unchecked", failed: "upload.scan.unchecked",
};
const SCAN_LOOK = { scanning: "hint", clean: "strong", threat: "error", unsupported: "warning", failed: "warning" };
// Null: not checked (handed in before files were checked, or checking is off): nothing to say.
function scanWords(current) {
  if (current.scan_released_at) return "upload.scan.released";
  return SCAN_SAID[current.scan];
}
function showScan(current) {
  const box = $("scan-state");
  box.hidden = !current.scan;
  if (!current.scan) return;
  box.textContent = t(scanWords(current), { detail: current.scan_detail || "" });
  box.className = SCAN_LOOK[current.scan];
}
// While the file on record is being checked, the page asks again every few seconds and says the
// outcome once it is known (a threat as an alert: the student has to upload a clean copy).
function watchScan() {
  clearTimeout(scanTimer);
  const current = progress && progress.current;
  if (!current || current.scan !== "scanning") return;
  const watched = { code, file: current.verification_code };
  scanTimer = setTimeout(async () => {
    if (uploading) { watchScan(); return; }
    const result = await call("GET", `submissions/${watched.code}`);
    if (watched.code !== code || result.status !== 200) { watchScan(); return; }
    adopt(result.data);
    const latest = progress.current;
    if (!latest || latest.verification_code !== watched.file || latest.scan === "scanning") return;
    const said = words(scanWords(latest), { detail: latest.scan_detail || "" });
    if (latest.scan === "threat") fail(said);
    else say(said);
  }, SCAN_EVERY_MS);
}

async function loadStudent(event) {
  if (event) event.preventDefault();
  await i18n.ready;
  clearError();
  const typed = $("code").value.replace(/[\s-]/g, "").toUpperCase();
  if (typed.length !== 20) { fail(words("upload.code.wrong-length")); return; }
  say(words("upload.code.looking-up"));
  const result = await call("GET", `submissions/${encodeURIComponent(typed)}`);
  if (result.gaveUp) { fail(advice(result.gaveUp), loadStudent); return; }
  if (result.status === 404) { fail(words("upload.code.unknown")); return; }
  if (result.status !== 200) { fail(problemText(result.data), loadStudent); return; }
  code = typed;
  say(null);
  adopt(result.data);
}

function adopt(data) {
  progress = data;
  clockOffset = new Date(progress.server_time) - Date.now();
  showStudent();
  watchScan();
}

// The student's state as the server says it now. False when it could not be had (said why).
async function refresh(again) {
  const result = await call("GET", `submissions/${code}`);
  if (result.gaveUp) { fail(advice(result.gaveUp), again); return false; }
  if (result.status !== 200) {
    fail(result.status === 404 ? words("upload.refused.code-gone") : problemText(result.data), again);
    return false;
  }
  adopt(result.data);
  return true;
}

// --- a timed exam: starting, and the question paper ------------------------------------------

// The dialog says until when the student would have, as the server counts it at this moment.
function fillStartDialog() {
  const timing = progress.timing;
  const until = timing.if_started_now;
  const hasLate = new Date(until.cutoff_at) > new Date(until.due_at);
  $("start-until").textContent = hasLate
    ? t("upload.start.until-late", { due: bothTimes(until.due_at), cutoff: bothTimes(until.cutoff_at) })
    : t("upload.start.until", { due: bothTimes(until.due_at) });
  // Less than the whole time when the due time (the exam's or an extension's) comes first.
  const available = Math.floor((new Date(until.due_at) - now()) / 60000) * 60;
  $("start-short").hidden = available >= timing.time_allowed_seconds - 60;
  $("start-short").textContent = t("upload.start.short", { time: lasting(Math.max(0, available)) });
  $("start-paper").hidden = !progress.exam.has_paper;
}

async function askToStart() {
  if (starting) return;
  starting = true;
  try {
    clearError();
    if (!(await refresh(askToStart))) return;
    const timing = progress.timing;
    // Started meanwhile (another tab), or no longer startable: the page now says so.
    if (!timing || timing.started_at || !timing.if_started_now) return;
    fillStartDialog();
    const dialog = $("start-dialog");
    dialog.returnValue = "";
    dialog.showModal();
  } finally {
    starting = false;
  }
}

// Starting twice starts once (the server keeps the first time): retry.js may send it again.
async function startExam() {
  clearError();
  say(words("upload.start.starting"));
  const result = await call("POST", `submissions/${code}/start`);
  if (result.gaveUp) { fail(advice(result.gaveUp), startExam); return; }
  if (result.status !== 200) {
    const kind = ((result.data || {}).type || "").split(":").pop();
    if (kind === "not-timed") { say(null); await refresh(startExam); return; } // no longer timed: no start needed
    const problem = refusal(result);
    await refresh(startExam); // the page shows the state that refused it (not open yet, no time left)
    fail(problem.message, problem.retry ? startExam : null);
    return;
  }
  if (!(await refresh(startExam))) return;
  ($("paper").hidden ? $("window") : $("paper-button")).focus();
  say(words("upload.start.started", () => ({ time: bothTimes(progress.exam.due_at) })));
}

// The paper is a link of a minute or so, asked for at the moment of the click.
async function downloadPaper() {
  clearError();
  say(words("upload.paper.asking"));
  const result = await call("GET", `submissions/${code}/paper`);
  if (result.gaveUp) { fail(advice(result.gaveUp), downloadPaper); return; }
  if (result.status === 200) {
    // A link of the same scheme as this page (the bucket's), never a script URL.
    if (new URL(result.data.url).protocol !== window.location.protocol) { fail(words("upload.paper.failed")); return; }
    window.location.assign(result.data.url);
    say(words("upload.paper.downloading", { file: result.data.filename }));
    return;
  }
  const kind = ((result.data || {}).type || "").split(":").pop();
  if (kind === "exam-closed") fail(words("upload.paper.closed"));
  else if (kind === "no-paper") fail(words("upload.paper.none"));
  else {
    const problem = refusal(result);
    fail(problem.message, problem.retry ? downloadPaper : null);
  }
}

let quarterSaid = null; // the last quarter of the upload the live region said
function showProgress(percent, file) {
  $("progress").value = percent;
  $("progress-text").textContent = i18n.number(percent / 100, { style: "percent" });
  // The live region says it in quarters: every percent would drown a screen reader.
  const quarter = Math.floor(percent / 25) * 25;
  if (quarter !== quarterSaid) {
    quarterSaid = quarter;
    say(words("upload.uploading", () => ({ file: file.name, percent: i18n.number(quarter / 100, { style: "percent" }) })));
  }
}

function postToS3(form, file) {
  // XMLHttpRequest, not fetch: only it reports upload progress.
  return new Promise((resolve) => {
    const body = new FormData();
    for (const [name, value] of Object.entries(form.fields)) body.append(name, value);
    body.append("file", file); // S3 ignores every field after the file: it goes last
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.url);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) showProgress(Math.round((e.loaded / e.total) * 100), file);
    };
    xhr.onload = () => resolve({ status: xhr.status, text: xhr.responseText });
    xhr.onerror = () => resolve({ network: true });
    xhr.send(body);
  });
}

function s3ErrorCode(text) {
  const found = /<Code>([^<]+)<\/Code>/.exec(text || "");
  return found ? found[1] : null;
}

function s3Problem(text) {
  const found = /<Code>([^<]+)<\/Code>[\s\S]*?<Message>([^<]*)<\/Message>/.exec(text || "");
  if (!found) return { message: words("upload.s3.refused"), retry: true };
  if (found[1] === "EntityTooLarge") return { message: words("upload.s3.too-large") };
  if (found[1] === "EntityTooSmall") return { message: words("upload.s3.empty") };
  if (found[1] === "BadDigest" || /checksum/i.test(found[2])) {
    return { message: words("upload.s3.changed") };
  }
  if (/expired/i.test(found[2])) {
    if (progress && phase() === "closed") return { message: words("upload.s3.closed") };
    return { message: words("upload.s3.expired"), retry: true, expired: true };
  }
  return { message: words("upload.s3.refused-code", { code: found[1] }), retry: true };
}

// What the API's refusals mean to a student, by problem type (urn:exam-depository:problem:...).
function refusal(result) {
  const data = result.data || {};
  const kind = (data.type || "").split(":").pop();
  if (kind === "attempts-used") return { message: words("upload.refused.attempts-used") };
  if (kind === "exam-not-open") {
    return { message: words("upload.refused.not-open", () => ({ time: when(data.opens_at) })) };
  }
  if (kind === "exam-closed") return { message: words("upload.refused.closed") };
  if (kind === "not-started") return { message: words("upload.refused.not-started") };
  if (kind === "no-time-left") return { message: words("upload.window.no-time-left") };
  if (kind === "too-many-open-forms") return { message: words("upload.refused.too-many-forms") };
  if (kind === "not-found") return { message: words("upload.refused.code-gone") };
  if (kind === "invalid-input") return { message: words("upload.refused.file-name") };
  if (kind === "type-not-accepted") {
    return { message: words("upload.refused.type-not-accepted", () => ({ kinds: either(data.accepted_types || []) })) };
  }
  return { message: problemText(data), retry: true };
}

const REJECTED = {
  too_large: "upload.rejected.too-large",
  empty: "upload.rejected.empty",
  checksum_mismatch: "upload.rejected.checksum",
  after_cutoff: "upload.rejected.after-cutoff",
  limit_reached: "upload.rejected.limit",
  "pdf-encrypted": "upload.rejected.pdf-encrypted",
  "pdf-unreadable": "upload.rejected.pdf-unreadable",
};
const FOR_WHAT_IT_HOLDS = ["wrong-type", "pdf-encrypted", "pdf-unreadable"];
// Why the recorder refused a file, in words; a file of the wrong type says what it was found to be
// and what the exam (as the upload's form said it) accepts.
function rejection(upload) {
  if (upload.rejection_reason !== "wrong-type") return words(REJECTED[upload.rejection_reason] || "upload.rejected.other");
  const kinds = upload.accepted_types || progress.exam.accepted_types || [];
  // A Word document with macros where Word documents are taken: say how to hand it in instead.
  if (upload.found_type === "docm" && kinds.includes("word")) return words("upload.rejected.docm");
  return words("upload.rejected.wrong-type", () => ({
    found: t(FOUND[upload.found_type] || "upload.found.unknown"), kinds: either(kinds),
  }));
}

// Polls once a second until the file is recorded; a poll the service is too busy for waits as
// retry.js says (backing off, never sooner than Retry-After), so a busy class does not poll harder.
// Resolves to "recorded", "rejected", "pending" (not yet, at the deadline) or why the retries stopped.
async function waitForReceipt(uploadId, timeoutMs = 60000) {
  say(words("upload.recording"));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const result = await call("GET", `submissions/${code}`);
    if (result.gaveUp) return result.gaveUp;
    if (result.status === 200) {
      const upload = result.data.uploads.find((u) => u.upload_id === uploadId);
      if (upload && upload.status === "recorded") {
        progress = result.data;
        // A new upload is a deliberate act: the file just sent is no longer chosen.
        $("file").value = "";
        showStudent();
        watchScan();
        $("receipt").focus();
        say(words(progress.current.scan === "scanning" ? "upload.done-scanning" : "upload.done"));
        return "recorded";
      }
      if (upload && upload.status === "rejected") {
        progress = result.data;
        // Refused for what it holds, the file is no longer chosen: the student picks the right one.
        if (FOR_WHAT_IT_HOLDS.includes(upload.rejection_reason)) $("file").value = "";
        showStudent();
        updateUploadButton();
        fail(rejection(upload));
        return "rejected";
      }
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return "pending";
}

// Send the file with a form, and record what happened. A network error may have cut the answer
// off after S3 took the file: retrying first looks for it, and sends it again with the same form
// (which costs no attempt) while that form lives. S3's 503 SlowDown stored nothing: the same form
// goes again by itself (retry.js), to the same key, so at most one object is ever made of it. S3
// names no wait (and a cross-origin header is unreadable unless the bucket exposes it): backoff alone.
async function send(form, file) {
  const sent = await serviceRetry.run(async () => {
    $("progress-box").hidden = false;
    quarterSaid = null;
    showProgress(0, file);
    const answer = await postToS3(form, file);
    $("progress-box").hidden = true;
    return { ...answer, problemType: s3ErrorCode(answer.text) };
  }, { notice: waiting });
  if (sent.gaveUp) { fail(advice(sent.gaveUp), () => resume(form, file)); return; }
  if (sent.network) { fail(words("upload.network-failed"), () => resume(form, file)); return; }
  if (sent.status !== 204 && sent.status !== 201 && sent.status !== 200) {
    const problem = s3Problem(sent.text);
    fail(problem.message, problem.retry ? (problem.expired ? upload : () => resume(form, file)) : null);
    return;
  }
  const outcome = await waitForReceipt(form.upload_id);
  if (outcome === "pending") {
    fail(words("upload.pending"));
  } else if (outcome.reason) {
    fail(words("upload.arrived-but", () => ({ advice: serviceRetry.advice(outcome) })));
  }
}

async function resume(form, file) {
  clearError();
  say(words("upload.checking-arrival"));
  const outcome = await waitForReceipt(form.upload_id, 8000);
  if (outcome.reason) { fail(advice(outcome), () => resume(form, file)); return; }
  if (outcome !== "pending") return;
  if (new Date(form.expires_at) > new Date(Date.now() + 5000)) {
    await send(form, file);
  } else {
    await upload();
  }
}

// After the due time a file handed in on time is kept and counts; a new upload would replace it
// with a late one, so the student says so first (the safe choice is the one focused).
function confirmLateReplacement() {
  const dialog = $("confirm-late");
  i18n.render($("confirm-late-text"), "upload.confirm.text", { file: strong(progress.current.filename) });
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "replace"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

async function upload(event) {
  if (event) event.preventDefault();
  await i18n.ready;
  clearError();
  const file = $("file").files[0];
  if (!file) { fail(words("upload.file.none")); return; }
  if (file.size > MAX_BYTES) {
    fail(words("upload.file.too-large", () => ({ size: i18n.number(file.size), limit: i18n.number(MAX_BYTES) })));
    return;
  }
  if (file.size === 0) { fail(words("upload.file.empty")); return; }
  if (!acceptable(file)) {
    fail(words("upload.file.not-accepted", () => ({ file: file.name, kinds: either(progress.exam.accepted_types || []) })));
    return;
  }
  const current = progress.current;
  if (phase() === "late" && current && !current.late && !(await confirmLateReplacement())) {
    say(words("upload.confirm.kept", { file: current.filename }));
    return;
  }
  uploading = true;
  updateUploadButton();
  try {
    say(words("upload.preparing"));
    // With the file's SHA-256 in the form, the storage refuses any other bytes.
    const sha256 = window.crypto && crypto.subtle ? await sha256Hex(file) : undefined;
    const presign = await call("POST", `submissions/${code}`, {
      filename: file.name, content_type: file.type || "application/octet-stream", sha256,
    });
    if (presign.gaveUp) { fail(advice(presign.gaveUp), upload); return; }
    if (presign.status !== 201) {
      const problem = refusal(presign);
      fail(problem.message, problem.retry ? upload : null);
      return;
    }
    await send(presign.data, file);
  } finally {
    uploading = false;
    updateUploadButton();
  }
}

// The language switch: everything shown is said again in the new language.
i18n.onChange(() => {
  if (progress) showStudent();
  if (progress && warned.mark !== null && !$("time-warning").hidden) sayWarning();
  if ($("start-dialog").open) fillStartDialog();
  show($("status"), said.status);
  show($("error"), said.error);
});

document.addEventListener("click", async (event) => {
  const target = event.target.closest("[data-copy]");
  if (!target) return;
  const text = $(target.dataset.copy).textContent;
  try {
    await navigator.clipboard.writeText(text);
    say(words("upload.copied"));
  } catch (err) {
    say(words("upload.copy-by-hand"));
  }
});
$("code-form").addEventListener("submit", loadStudent);
$("file-form").addEventListener("submit", upload);
$("file").addEventListener("change", updateUploadButton);
$("retry").addEventListener("click", () => { if (retry) retry(); });
$("confirm-keep").addEventListener("click", () => $("confirm-late").close("keep"));
$("confirm-replace").addEventListener("click", () => $("confirm-late").close("replace"));
$("start-button").addEventListener("click", askToStart);
$("start-cancel").addEventListener("click", () => $("start-dialog").close("cancel"));
$("start-confirm").addEventListener("click", () => $("start-dialog").close("start"));
$("start-dialog").addEventListener("close", () => { if ($("start-dialog").returnValue === "start") startExam(); });
$("paper-button").addEventListener("click", downloadPaper);
// From the course: the ticket is exchanged once for the student's code, which this tab keeps
// (sessionStorage: a reload inside the course's frame keeps the page) and which no address holds.
const COURSE_CODE = "exam-depository-course-code";
async function openTicket(ticket) {
  await i18n.ready;
  clearError();
  say(words("upload.code.looking-up"));
  const result = await call("POST", "lti/tickets", { ticket }, false);
  if (result.gaveUp) { fail(words("lti.upload.ticket-failed")); return; }
  if (result.status !== 200 || !result.data.upload_code) {
    fail(words(result.status === 410 ? "lti.upload.ticket-used" : "lti.upload.ticket-failed"));
    return;
  }
  sessionStorage.setItem(COURSE_CODE, result.data.upload_code);
  openFromCourse();
}
// The page as for a code, with no code field, and saying where it was opened from.
function openFromCourse() {
  $("code-form").hidden = true;
  $("from-course").hidden = false;
  $("code").value = sessionStorage.getItem(COURSE_CODE);
  loadStudent();
}
// The code from the link, looked up as Continue does; also from a link opened in this tab later.
function openLink(link) {
  if (link && link.ticket) {
    openTicket(link.ticket);
  } else if (link && link.fromCourse) {
    i18n.ready.then(() => fail(words("lti.upload.ticket-failed")));
  } else if (link && link.code) {
    $("code").value = link.code;
    loadStudent().then(() => { if (code && !said.status) say(words("upload.link.opened")); });
  } else if (link && link.meant) {
    i18n.ready.then(() => fail(words("upload.link.unreadable")));
  }
}
const fromCourse = new URLSearchParams(window.location.search).get("lti") === "1";
if (!linked && fromCourse && sessionStorage.getItem(COURSE_CODE)) {
  openFromCourse();
} else if (!linked && fromCourse) {
  // Reloaded in the course's frame by a browser that kept nothing for it: the course's link again.
  i18n.ready.then(() => say(words("lti.upload.reopen")));
} else {
  openLink(linked);
}
window.addEventListener("hashchange", () => openLink(takeLink()));
