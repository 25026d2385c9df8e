// The examiner's console: the same API as curl, with the key kept in this tab's sessionStorage.
// Everything from the API is shown with textContent: names and titles are other people's data.
"use strict";
const api = document.body.dataset.api;
const $ = (id) => document.getElementById(id);
const KEY = "exam-depository-examiner-key";
const PAGE = 500;
const SUMMARY_EVERY_MS = 5000;
const EXPORT_EVERY_MS = 1500;
const ownZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

let examsCursor = null;
let exam = null; // the exam on show
let pageCursors = [null]; // keyset: the cursor of each page seen, to go back
let currentPage = 0;
let shownCounts = null; // the counts the roster table was drawn with
let latestCutoff = null; // the last instant any student of the page may still hand in
let summaryTimer = null;
let exportTimer = null;
let exportId = null;
let extensionFor = null;
let clockOffset = 0; // the server's clock minus this browser's, from each answer's Date header

// --- small helpers ---------------------------------------------------------------------------

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}
function say(text) { $("status").textContent = text; }
function clearError() { $("error").hidden = true; $("error-rows").replaceChildren(); }
// The alert goes beside what it is about (the form that was refused), or under the status line.
function fail(text, rows, near) {
  const box = $("error");
  if (near) near.before(box); else $("status").after(box);
  $("error-text").textContent = text;
  $("error-rows").replaceChildren(...(rows || []).map((row) => el("li", {}, row)));
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
  say("");
}
function now() { return new Date(Date.now() + clockOffset); }
function inZone(iso, zone) {
  return new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    timeZone: zone, timeZoneName: "short",
  }).format(new Date(iso));
}
function when(iso) { return inZone(iso, ownZone); }
function size(bytes) {
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
// A datetime-local field holds a time in this browser's zone; the API wants an instant.
function instantFrom(field) { return field.value ? new Date(field.value).toISOString() : null; }
function fieldValue(iso) {
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
function plural(n, one, many) { return `${n} ${n === 1 ? one : many || one + "s"}`; }

// --- the API ---------------------------------------------------------------------------------

class Refused extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title || problem.message)) || `The service answered ${status}.`);
    this.status = status;
    this.problem = problem || {};
  }
}

// One request with the key. A 403 is API Gateway refusing the key: the console signs out.
async function call(method, path, { json, file, accept } = {}) {
  const headers = { "x-api-key": sessionStorage.getItem(KEY) || "" };
  if (json) headers["Content-Type"] = "application/json";
  if (file) headers["Content-Type"] = "text/csv";
  if (accept) headers.Accept = accept;
  let response;
  try {
    response = await fetch(api + path, { method, headers, body: json ? JSON.stringify(json) : file, cache: "no-store" });
  } catch (err) {
    throw new Refused(0, { detail: "The network failed. Check your connection, then try again." });
  }
  const date = response.headers.get("date");
  if (date) clockOffset = new Date(date) - Date.now();
  if (response.status === 403) {
    signOut("The service refused your key. Check it with your administrator and sign in again.");
    throw new Refused(403, { detail: "The key was refused." });
  }
  if (response.status === 204) return { status: 204 };
  if (accept === "text/csv" && response.ok) return { status: response.status, blob: await response.blob(), response };
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status >= 500) {
      throw new Refused(response.status, { detail: "Something went wrong on our side. Try again in a moment." });
    }
    throw new Refused(response.status, body);
  }
  return { status: response.status, data: body };
}

// A refusal shown in the alert box, each bad row or field on its own line.
function showRefusal(err, near) {
  if (err.status === 403) return;
  const rows = (err.problem.errors || []).map((row) => {
    if (row.line !== undefined) return `Line ${row.line}${row.field ? `, ${row.field}` : ""}: ${row.message}`;
    const where = (row.location || []).filter((part) => !["body", "query", "path"].includes(part)).join(".");
    return `${where ? where + ": " : ""}${row.message}`;
  });
  fail(err.message, rows.length > 1 || (rows.length === 1 && err.problem.errors[0].line !== undefined) ? rows : [], near);
}

async function attempt(work, near) {
  clearError();
  try {
    await work();
  } catch (err) {
    if (err instanceof Refused) showRefusal(err, near);
    else throw err;
  }
}

// --- signing in and out ----------------------------------------------------------------------

function show(view) {
  $("sign-in").hidden = view !== "sign-in";
  $("exams-view").hidden = view !== "exams";
  $("exam-view").hidden = view !== "exam";
  $("sign-out").hidden = view === "sign-in";
  if (view !== "exam") stopTimers();
}

function stopTimers() {
  clearInterval(summaryTimer);
  clearTimeout(exportTimer);
  summaryTimer = exportTimer = null;
}

function signOut(why) {
  sessionStorage.removeItem(KEY);
  exam = null;
  show("sign-in");
  $("exams-table").tBodies[0].replaceChildren();
  $("roster").tBodies[0].replaceChildren();
  $("key").value = "";
  if (why) fail(why); else { clearError(); say("Signed out. The key is forgotten."); }
  $("key").focus();
}

async function signIn(event) {
  event.preventDefault();
  const key = $("key").value.trim();
  if (!key) { fail("Paste your examiner key first.", [], $("sign-in")); return; }
  sessionStorage.setItem(KEY, key);
  $("key").value = "";
  say("Signing in…");
  await attempt(async () => {
    try {
      await showExams();
    } catch (err) {
      sessionStorage.removeItem(KEY); // a key that was never accepted is not kept
      throw err;
    }
    say("Signed in.");
  }, $("sign-in"));
}

// --- the exams -------------------------------------------------------------------------------

function examRow(item) {
  const open = el("button", { type: "button", className: "link" }, item.title);
  open.addEventListener("click", () => attempt(() => openExam(item.exam_id)));
  const c = item.counts;
  return el("tr", {},
    el("th", { scope: "row" }, open, el("div", { className: "hint mono" }, item.exam_id)),
    el("td", {}, when(item.due_at)),
    el("td", {}, c.students), el("td", {}, c.handed_in), el("td", {}, c.late), el("td", {}, c.none_yet));
}

async function showExams(more) {
  const query = more && examsCursor ? `&cursor=${encodeURIComponent(examsCursor)}` : "";
  const { data } = await call("GET", `exams?limit=50${query}`);
  const body = $("exams-table").tBodies[0];
  if (!more) body.replaceChildren();
  body.append(...data.items.map(examRow));
  examsCursor = data.next_cursor;
  $("more-exams").hidden = !examsCursor;
  $("no-exams").hidden = body.rows.length > 0;
  $("exams-table").hidden = body.rows.length === 0;
  show("exams");
  if (!more) $("exams-title").focus();
}

function slug(text) {
  return text.toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
    .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63);
}

async function createExam(event) {
  event.preventDefault();
  await attempt(async () => {
    const missing = ["exam-title", "exam-id", "exam-opens", "exam-due", "exam-cutoff"]
      .filter((id) => !$(id).value.trim()).map((id) => document.querySelector(`label[for="${id}"]`).textContent);
    if (missing.length) { fail(`Fill in: ${missing.join(", ")}.`, [], $("create-exam")); return; }
    const { data } = await call("POST", "exams", {
      json: {
        title: $("exam-title").value, exam_id: $("exam-id").value.trim(),
        opens_at: instantFrom($("exam-opens")), due_at: instantFrom($("exam-due")),
        cutoff_at: instantFrom($("exam-cutoff")), timezone: $("exam-zone").value,
        max_attempts: Number($("exam-attempts").value), anonymous: $("exam-anonymous").checked,
      },
    });
    $("create-exam").reset();
    $("exam-zone").value = ownZone;
    say(`Created “${data.title}”.`);
    await openExam(data.exam_id);
  }, $("create-exam"));
}

// --- one exam --------------------------------------------------------------------------------

function path(...parts) { return parts.map(encodeURIComponent).join("/"); }

function showSummary(counts) {
  $("count-students").textContent = counts.students;
  $("count-handed-in").textContent = counts.handed_in;
  $("count-late").textContent = counts.late;
  $("count-none").textContent = counts.none_yet;
  $("summary-time").textContent = `As of ${when(now().toISOString())}.`;
  const changed = shownCounts && JSON.stringify(counts) !== JSON.stringify(shownCounts);
  $("roster-stale").hidden = !changed;
}

function showExam(data) {
  exam = data;
  $("exam-heading").textContent = data.title;
  const zone = data.timezone === ownZone ? "" : ` In the exam's zone (${data.timezone}): due ${inZone(data.due_at, data.timezone)}.`;
  const late = data.cutoff_at > data.due_at ? `, late uploads until ${when(data.cutoff_at)}` : ", no late uploads";
  $("exam-window").textContent = `${data.exam_id}: opens ${when(data.opens_at)}, due ${when(data.due_at)}${late}; ` +
    `${plural(data.max_attempts, "upload")} per student${data.anonymous ? "; anonymous" : ""}.${zone}`;
  $("edit-title").value = data.title;
  $("edit-opens").value = fieldValue(data.opens_at);
  $("edit-due").value = fieldValue(data.due_at);
  $("edit-cutoff").value = fieldValue(data.cutoff_at);
  $("edit-attempts").value = data.max_attempts;
  showSummary(data.counts);
}

async function openExam(examId) {
  const { data } = await call("GET", path("exams", examId));
  exportId = null;
  $("export-progress").textContent = "";
  $("export-download").hidden = true;
  $("import-result").hidden = true;
  $("extension-form").hidden = true;
  $("delete-confirm").hidden = true;
  $("filter").value = "";
  pageCursors = [null];
  shownCounts = null;
  showExam(data);
  await loadRoster(0);
  show("exam");
  $("exam-view").focus();
  watchSummary();
}

// While anyone may still hand in, the summary refreshes itself; the table offers a refresh
// instead of redrawing under the examiner's hands.
function watchSummary() {
  clearInterval(summaryTimer);
  summaryTimer = setInterval(async () => {
    if (!exam || document.hidden) return;
    const t = now();
    if (t < new Date(exam.opens_at) || (latestCutoff && t > latestCutoff)) return;
    try {
      const { data } = await call("GET", path("exams", exam.exam_id));
      if (exam && data.exam_id === exam.exam_id) showSummary(data.counts);
    } catch (err) {
      if (err instanceof Refused && err.status === 404) { exam = null; await attempt(() => showExams()); }
    }
  }, SUMMARY_EVERY_MS);
}

function handedIn(student) {
  const current = student.current;
  if (!current) return el("span", { className: "badge none" }, "not yet");
  return el("span", {},
    when(current.submitted_at), " ",
    el("span", { className: current.late ? "badge late" : "badge current" }, current.late ? "late" : "on time"));
}

function studentRow(student) {
  const extension = student.extension;
  // Whose row a button acts on, for a screen reader that hears the button alone.
  const whose = (words) => el("span", { className: "visually-hidden" }, ` ${words} ${student.nickname}`);
  const give = el("button", { type: "button", className: "secondary" },
    extension ? "Change extension" : "Give extension", whose(extension ? "of" : "to"));
  give.addEventListener("click", () => openExtension(student, give));
  const actions = el("td", { className: "actions" }, give);
  if (extension) {
    const remove = el("button", { type: "button", className: "secondary" }, "Remove extension", whose("of"));
    remove.addEventListener("click", () => attempt(() => removeExtension(student)));
    actions.append(" ", remove);
  }
  return el("tr", {},
    el("th", { scope: "row", className: "mono" }, student.nickname),
    el("td", {}, `${student.first_name} ${student.last_name}`),
    el("td", {}, `${student.attempts_used} of ${student.max_attempts}`),
    el("td", {}, handedIn(student)),
    el("td", {}, extension ? `due ${when(extension.due_at)}${extension.extra_attempts ? `, +${extension.extra_attempts}` : ""}` : "—"),
    actions);
}

async function loadRoster(index) {
  const cursor = pageCursors[index];
  const status = $("filter").value;
  const query = `limit=${PAGE}${status ? `&status=${status}` : ""}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
  const [{ data }, fresh] = await Promise.all([
    call("GET", `${path("exams", exam.exam_id, "students")}?${query}`),
    call("GET", path("exams", exam.exam_id)),
  ]);
  currentPage = index;
  pageCursors = pageCursors.slice(0, index + 1);
  if (data.next_cursor) pageCursors.push(data.next_cursor);
  $("roster").tBodies[0].replaceChildren(...data.items.map(studentRow));
  $("roster-empty").hidden = data.items.length > 0;
  $("prev-page").hidden = index === 0;
  $("next-page").hidden = !data.next_cursor;
  $("next-page").onclick = () => attempt(() => loadRoster(index + 1));
  $("prev-page").onclick = () => attempt(() => loadRoster(index - 1));
  const first = index * PAGE + 1;
  $("page-position").textContent = data.items.length
    ? `Students ${first}–${first + data.items.length - 1}${data.next_cursor ? ", more after" : ""}.` : "";
  const cutoffs = [exam.cutoff_at, ...data.items.map((s) => s.cutoff_at)].map((iso) => new Date(iso));
  latestCutoff = new Date(Math.max(...cutoffs));
  showExam(fresh.data);
  shownCounts = fresh.data.counts;
  $("roster-stale").hidden = true;
}

async function downloadRoster() {
  await attempt(async () => {
    say("Preparing the roster…");
    const { blob, response } = await call("GET", path("exams", exam.exam_id, "students"), { accept: "text/csv" });
    const named = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "");
    const link = el("a", { href: URL.createObjectURL(blob), download: named ? named[1] : `${exam.exam_id}-roster.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    say("The roster is downloaded. It holds the upload codes: keep it safe.");
  });
}

// --- adding students -------------------------------------------------------------------------

let droppedFile = null;

async function importRoster(event) {
  event.preventDefault();
  const file = droppedFile || $("roster-file").files[0];
  if (!file) { fail("Choose or drop a CSV file first.", [], $("import-form")); return; }
  $("import-result").hidden = true;
  await attempt(async () => {
    say(`Importing ${file.name}…`);
    const { status, data } = await call("POST", path("exams", exam.exam_id, "students", "import"), { file });
    const created = data.created;
    $("import-summary").textContent = status === 200
      ? `Every student of ${file.name} was on the roster already: nothing was added.`
      : `Added ${plural(created.length, "student")}${data.existing.length ? `; ${data.existing.length} were there already` : ""}.`;
    $("import-created").replaceChildren(...created.map((s) =>
      el("li", {}, el("span", { className: "mono" }, s.nickname), ` ${s.first_name} ${s.last_name}, upload code `,
        el("span", { className: "mono" }, s.upload_code))));
    $("import-result").hidden = false;
    $("import-form").reset();
    droppedFile = null;
    $("drop-name").textContent = "";
    say($("import-summary").textContent);
    await loadRoster(0);
  }, $("import-form"));
}

function dropRoster(event) {
  event.preventDefault();
  $("drop-zone").classList.remove("over");
  const file = event.dataTransfer.files[0];
  if (!file) return;
  droppedFile = file;
  $("drop-name").textContent = `Ready: ${file.name}`;
}

async function importExtensions(event) {
  event.preventDefault();
  const file = $("extensions-file").files[0];
  if (!file) { fail("Choose a CSV file of extensions first.", [], $("extensions-import-form")); return; }
  await attempt(async () => {
    const { data } = await call("POST", path("exams", exam.exam_id, "extensions", "import"), { file });
    $("extensions-import-form").reset();
    say(`Gave ${plural(data.extended.length, "extension")}.`);
    await loadRoster(currentPage);
  }, $("extensions-import-form"));
}

// --- extensions ------------------------------------------------------------------------------

let extensionOpener = null;

function openExtension(student, opener) {
  extensionFor = student;
  extensionOpener = opener;
  $("extension-title").textContent = `Extension for ${student.nickname} (${student.first_name} ${student.last_name})`;
  $("extension-due").value = fieldValue(student.due_at);
  $("extension-cutoff").value = student.extension ? fieldValue(student.extension.cutoff_at) : "";
  $("extension-attempts").value = student.extension ? student.extension.extra_attempts : 0;
  $("extension-form").hidden = false;
  $("extension-due").focus();
}

function closeExtension() {
  $("extension-form").hidden = true;
  if (extensionOpener && extensionOpener.isConnected) extensionOpener.focus();
  extensionFor = extensionOpener = null;
}

async function giveExtension(event) {
  event.preventDefault();
  if (!$("extension-due").value) { fail("Choose the student's due time.", [], $("extension-form")); return; }
  await attempt(async () => {
    const json = { due_at: instantFrom($("extension-due")), extra_attempts: Number($("extension-attempts").value || 0) };
    const cutoff = instantFrom($("extension-cutoff"));
    if (cutoff) json.cutoff_at = cutoff;
    const nickname = extensionFor.nickname;
    await call("PUT", path("exams", exam.exam_id, "students", nickname, "extension"), { json });
    $("extension-form").hidden = true;
    extensionFor = extensionOpener = null;
    await loadRoster(currentPage);
    say(`${nickname} is now due ${when(json.due_at)}.`);
  }, $("extension-form"));
}

async function removeExtension(student) {
  await call("DELETE", path("exams", exam.exam_id, "students", student.nickname, "extension"));
  await loadRoster(currentPage);
  say(`${student.nickname}'s extension is removed: the exam's window holds again.`);
}

// --- collecting ------------------------------------------------------------------------------

function showExport(data) {
  const files = data.files_total === null ? `${data.files_done} files` : `${data.files_done} of ${data.files_total} files`;
  const text = {
    queued: "Waiting to start…",
    running: `Preparing: ${files}, ${size(data.bytes)}.`,
    done: `Ready: ${files}, ${size(data.bytes)}. The ZIP is kept until ${data.expires_at ? when(data.expires_at) : "tomorrow"}.`,
    failed: `The export failed: ${data.error || "unknown reason"}. Prepare it again.`,
  }[data.status];
  $("export-progress").textContent = text;
  $("export-download").hidden = data.status !== "done";
  $("start-export").disabled = data.status === "queued" || data.status === "running";
}

async function exportStatus() {
  return (await call("GET", path("exams", exam.exam_id, "exports", exportId))).data;
}

function watchExport() {
  clearTimeout(exportTimer);
  exportTimer = setTimeout(() => attempt(async () => {
    if (!exam || !exportId) return;
    try {
      const data = await exportStatus();
      showExport(data);
      if (data.status === "done") say("The ZIP is ready to download.");
      if (data.status === "queued" || data.status === "running") watchExport();
    } catch (err) {
      expired(err);
    }
  }), EXPORT_EVERY_MS);
}

function expired(err) {
  if (!(err instanceof Refused) || err.status !== 410) throw err;
  $("export-download").hidden = true;
  $("start-export").disabled = false;
  $("export-progress").textContent = "This ZIP has expired and was deleted. Prepare a new one.";
}

async function startExport() {
  await attempt(async () => {
    const { data } = await call("POST", path("exams", exam.exam_id, "exports"));
    exportId = data.export_id;
    showExport({ status: data.status, files_done: 0, files_total: null, bytes: 0 });
    say("Preparing the ZIP…");
    watchExport();
  }, $("start-export"));
}

// The link in an answer lives minutes: ask for a fresh one at the moment of the download.
async function downloadExport() {
  await attempt(async () => {
    try {
      const data = await exportStatus();
      showExport(data);
      if (data.status === "done") window.location.assign(data.url);
    } catch (err) {
      expired(err);
    }
  });
}

// --- changing and deleting -------------------------------------------------------------------

async function editExam(event) {
  event.preventDefault();
  await attempt(async () => {
    const json = {
      title: $("edit-title").value, opens_at: instantFrom($("edit-opens")), due_at: instantFrom($("edit-due")),
      cutoff_at: instantFrom($("edit-cutoff")), max_attempts: Number($("edit-attempts").value),
    };
    for (const name of Object.keys(json)) if (json[name] === null || json[name] === "") delete json[name];
    const { data } = await call("PATCH", path("exams", exam.exam_id), { json });
    showExam(data);
    say("The exam is changed.");
  }, $("edit-exam"));
}

function askDelete() {
  const c = exam.counts;
  $("delete-what").textContent = `Deleting “${exam.title}” (${exam.exam_id}) deletes ${plural(c.students, "student")} ` +
    `with their upload codes, and the files of the ${plural(c.handed_in, "student")} who handed in. ` +
    "Reviewers' verification codes stop working. " +
    "This cannot be undone.";
  $("delete-confirm").hidden = false;
  $("delete-no").focus();
}

async function deleteExam() {
  await attempt(async () => {
    const title = exam.title;
    await call("DELETE", path("exams", exam.exam_id));
    exam = null;
    await showExams();
    say(`Deleted “${title}”.`);
  }, $("delete-box"));
}

// --- start -----------------------------------------------------------------------------------

function fillZones() {
  const zones = Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [];
  const all = Array.from(new Set([ownZone, "UTC", ...zones])).sort();
  $("exam-zone").replaceChildren(...all.map((zone) => el("option", { value: zone }, zone)));
  $("exam-zone").value = ownZone;
  for (const node of document.querySelectorAll(".own-zone")) node.textContent = `your time zone (${ownZone})`;
}

fillZones();
$("sign-in").addEventListener("submit", signIn);
$("sign-out").addEventListener("click", () => signOut());
$("more-exams").addEventListener("click", () => attempt(() => showExams(true)));
$("create-exam").addEventListener("submit", createExam);
$("exam-title").addEventListener("input", () => {
  if (!$("exam-id").dataset.typed) $("exam-id").value = slug($("exam-title").value);
});
$("exam-id").addEventListener("input", () => { $("exam-id").dataset.typed = "yes"; });
$("exam-due").addEventListener("change", () => { if (!$("exam-cutoff").value) $("exam-cutoff").value = $("exam-due").value; });
$("back").addEventListener("click", () => attempt(() => showExams()));
$("filter").addEventListener("change", () => attempt(() => { pageCursors = [null]; return loadRoster(0); }));
$("refresh-roster").addEventListener("click", () => attempt(() => loadRoster(currentPage)));
$("download-roster").addEventListener("click", downloadRoster);
$("import-form").addEventListener("submit", importRoster);
$("roster-file").addEventListener("change", () => { droppedFile = null; $("drop-name").textContent = ""; });
$("drop-zone").addEventListener("dragover", (event) => { event.preventDefault(); $("drop-zone").classList.add("over"); });
$("drop-zone").addEventListener("dragleave", () => $("drop-zone").classList.remove("over"));
$("drop-zone").addEventListener("drop", dropRoster);
$("extensions-import-form").addEventListener("submit", importExtensions);
$("extension-form").addEventListener("submit", giveExtension);
$("extension-cancel").addEventListener("click", closeExtension);
$("start-export").addEventListener("click", startExport);
$("export-download").addEventListener("click", downloadExport);
$("edit-exam").addEventListener("submit", editExam);
$("delete-exam").addEventListener("click", askDelete);
$("delete-no").addEventListener("click", () => { $("delete-confirm").hidden = true; $("delete-exam").focus(); });
$("delete-yes").addEventListener("click", deleteExam);
if (sessionStorage.getItem(KEY)) attempt(() => showExams()); else show("sign-in");
