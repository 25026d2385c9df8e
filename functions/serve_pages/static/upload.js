// The student's page: code -> attempts -> file -> presigned form -> straight to S3 -> receipt.
"use strict";
const api = document.body.dataset.api;
const MAX_BYTES = 3 * 1024 * 1024;
const $ = (id) => document.getElementById(id);
let code = null;
let retry = null;

function say(text) { $("status").textContent = text; }
const waiting = serviceRetry.noticeIn($("status")); // "busy, retrying in 4 s…" while a request waits
function fail(text, retryWith) {
  $("error").textContent = text;
  $("error").hidden = false;
  retry = retryWith || null;
  $("retry").hidden = !retry;
  say("");
}
function clearError() { $("error").hidden = true; $("retry").hidden = true; retry = null; }
function size(bytes) {
  return bytes < 1024 * 1024 ? `${Math.max(1, Math.round(bytes / 1024))} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

// Time: the server's clock, not the laptop's (a wrong laptop clock must not move a deadline).
let clockOffset = 0; // server time minus this browser's time, in ms
let exam = null;
let ticker = null;
const ownZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
function now() { return new Date(Date.now() + clockOffset); }
function inZone(iso, zone) {
  return new Intl.DateTimeFormat(undefined, {
    weekday: "short", year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    timeZone: zone, timeZoneName: "short",
  }).format(new Date(iso));
}
function when(iso) { return inZone(iso, ownZone); }
function span(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  return `${m} min ${s % 60} s`;
}
function phase() {
  const t = now();
  if (t < new Date(exam.opens_at)) return "not-open";
  if (t >= new Date(exam.cutoff_at)) return "closed";
  return t > new Date(exam.due_at) ? "late" : "open";
}

// The exam's window, in the exam's time zone and the student's own, and what it means now.
function showWindow(canUpload) {
  const p = phase();
  const due = new Date(exam.due_at), cutoff = new Date(exam.cutoff_at), opens = new Date(exam.opens_at);
  $("due-exam").textContent = `${inZone(exam.due_at, exam.timezone)} (${exam.timezone})`;
  $("due-local").textContent = exam.timezone === ownZone ? "" : `Your time: ${when(exam.due_at)}`;
  const hasLate = cutoff > due;
  $("cutoff-label").hidden = $("cutoff-value").hidden = !hasLate;
  $("cutoff-exam").textContent = `${inZone(exam.cutoff_at, exam.timezone)} (${exam.timezone})`;
  $("cutoff-local").textContent = exam.timezone === ownZone ? "" : `Your time: ${when(exam.cutoff_at)}`;
  const t = now();
  const state = {
    "not-open": `This exam opens on ${inZone(exam.opens_at, exam.timezone)} (your time: ${when(exam.opens_at)}). Come back then.`,
    open: "The exam is open.",
    late: hasLate ? "The due time has passed. Late uploads are still accepted, and marked late." : "",
    closed: `This exam closed on ${inZone(exam.cutoff_at, exam.timezone)}. Uploads are no longer accepted.`,
  }[p];
  $("window-state").textContent = state;
  $("countdown").textContent = {
    "not-open": `Opens in ${span(opens - t)}.`,
    open: `${span(due - t)} left until the due time.`,
    late: `Late uploads close in ${span(cutoff - t)}.`,
    closed: "",
  }[p];
  $("late-warning").hidden = p !== "late";
  $("file-form").hidden = !canUpload || p === "not-open" || p === "closed";
  return p;
}

function startTicking(canUpload) {
  if (ticker) clearInterval(ticker);
  let last = showWindow(canUpload);
  ticker = setInterval(() => {
    const p = showWindow(canUpload);
    if (p !== last) say({ open: "The exam is open now.", late: "The due time has passed.", closed: "The exam is closed." }[p] || "");
    last = p;
  }, 1000);
}

// Every call of this page may be sent again (retry.js) after a timeout, a lost answer or a 503
// `service-unavailable`: the lookups and polls are GETs, and a form asked for twice leaves an
// unused form behind, which costs no attempt and expires with its policy. Only a repeat after one
// of those can (a 429, or a busy or starting 503, made no form), and one request is sent at most ten times: a student could reach the ten open
// forms allowed only if every one of them failed after its form was made, and is then told to
// wait until they expire.
async function call(method, path, body) {
  const sent = await serviceRetry.fetch(api + path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  }, { repeatable: true, notice: waiting });
  if (sent.gaveUp) return { gaveUp: sent.gaveUp }; // a network failure too: it is repeatable
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

function showStudent(progress) {
  $("student").hidden = false;
  exam = progress.exam;
  clockOffset = new Date(progress.server_time) - Date.now();
  $("exam-title").textContent = exam.title;
  $("student-name").textContent = `${progress.student.first_name} ${progress.student.last_name}`;
  const left = progress.attempts_left;
  $("attempts").textContent = left === 0
    ? `You have used all ${progress.attempts_used} uploads. Ask your examiner if you need another.`
    : `You have ${left} upload${left === 1 ? "" : "s"} left. The limit is 3 MiB per file.`;
  startTicking(left > 0);
  const current = progress.current;
  $("current").hidden = !current;
  if (current) {
    $("current-file").textContent = current.filename;
    $("current-size").textContent = size(current.size_bytes);
    $("current-time").textContent = when(current.submitted_at);
    $("current-late").hidden = !current.late;
    $("current-code").textContent = current.verification_code;
    // After that the file is deleted: only what the examiner collected by then remains.
    $("current-kept").textContent = `Kept until ${inZone(current.expires_at, exam.timezone)} (${exam.timezone}); ` +
      `ask your examiner after that.${exam.timezone === ownZone ? "" : ` Your time: ${when(current.expires_at)}.`}`;
    offerReceipt($("current-receipt"), current);
  }
}

async function loadStudent(event) {
  if (event) event.preventDefault();
  clearError();
  const typed = $("code").value.replace(/[\s-]/g, "").toUpperCase();
  if (typed.length !== 20) { fail("An upload code has 20 letters and digits. Check it and try again."); return; }
  say("Looking up your code…");
  const result = await call("GET", `submissions/${encodeURIComponent(typed)}`);
  if (result.gaveUp) { fail(serviceRetry.advice(result.gaveUp), loadStudent); return; }
  if (result.status === 404) { fail("We don't know this upload code. Check it and try again."); return; }
  if (result.status !== 200) { fail("Something went wrong on our side. Try again in a moment.", loadStudent); return; }
  code = typed;
  say("");
  showStudent(result.data);
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
      if (!e.lengthComputable) return;
      const percent = Math.round((e.loaded / e.total) * 100);
      $("progress").value = percent;
      $("progress-text").textContent = `${percent} %`;
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
  if (!found) return { text: "The storage refused the file. Try again.", retry: true };
  if (found[1] === "EntityTooLarge") return { text: "The file is larger than 3 MiB, so it was refused. Choose a smaller file." };
  if (found[1] === "EntityTooSmall") return { text: "The file is empty. Choose another file." };
  if (found[1] === "BadDigest" || /checksum/i.test(found[2])) {
    return { text: "The file changed while it was being sent. Choose it again and upload.", retry: false };
  }
  if (/expired/i.test(found[2])) {
    if (exam && phase() === "closed") return { text: "The exam closed before your file arrived, so it was refused." };
    return { text: "The upload took too long and its form expired. Try again.", retry: true, expired: true };
  }
  return { text: `The storage refused the file (${found[1]}). Try again.`, retry: true };
}

// What the API's refusals mean to a student, by problem type (urn:exam-depository:problem:...).
function refusal(result) {
  const kind = ((result.data && result.data.type) || "").split(":").pop();
  if (kind === "attempts-used") return { text: "You have no uploads left. Ask your examiner if you need another." };
  if (kind === "exam-not-open") return { text: `The exam is not open yet: it opens on ${when(result.data.opens_at)}.` };
  if (kind === "exam-closed") return { text: "The exam is closed: uploads are no longer accepted." };
  if (kind === "too-many-open-forms") {
    return { text: "You started too many uploads that never finished. Wait ten minutes, then try again." };
  }
  if (kind === "not-found") return { text: "We don't know this upload code any more. Check it with your examiner." };
  if (kind === "invalid-input") {
    return { text: "This file's name or type cannot be used. Rename the file with ordinary letters and try again." };
  }
  return { text: "Something went wrong on our side. Try again in a moment.", retry: true };
}

// Polls once a second until the file is recorded; a poll the service is too busy for waits as
// retry.js says (backing off, never sooner than Retry-After), so a busy class does not poll harder.
// Resolves to "recorded", "rejected", "pending" (not yet, at the deadline) or why the retries stopped.
async function waitForReceipt(uploadId, timeoutMs = 60000) {
  say("Uploaded. Recording your file…");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const result = await call("GET", `submissions/${code}`);
    if (result.gaveUp) return result.gaveUp;
    if (result.status === 200) {
      const upload = result.data.uploads.find((u) => u.upload_id === uploadId);
      if (upload && upload.status === "recorded") {
        showStudent(result.data);
        const current = result.data.current;
        $("receipt-code").textContent = current.verification_code;
        $("receipt-title").textContent = current.late ? "Handed in late" : "Handed in";
        $("receipt-detail").textContent = `${current.filename}, ${size(current.size_bytes)}, handed in ${when(current.submitted_at)}` +
          `${current.late ? " (after the due time)" : ""}, SHA-256 ${current.sha256}`;
        offerReceipt($("receipt-file"), current);
        $("receipt").hidden = false;
        $("receipt").focus();
        say("Your file is handed in.");
        return "recorded";
      }
      if (upload && upload.status === "rejected") {
        showStudent(result.data);
        fail({
          too_large: "The file was larger than 3 MiB and was not kept.",
          empty: "The file was empty and was not kept.",
          checksum_mismatch: "The file that arrived is not the one you chose, so it was not kept. Upload it again.",
          after_cutoff: "Your file arrived after your time to hand in had ended, so it was not kept: the exam was closed, " +
            "or your deadline moved earlier, after your upload started. Ask your examiner if you need to hand it in.",
          limit_reached: "You had no uploads left, so this file was not kept.",
        }[upload.rejection_reason] || "This file was not kept. Ask your examiner.");
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
    $("progress").value = 0;
    say(`Uploading ${file.name}…`);
    const answer = await postToS3(form, file);
    $("progress-box").hidden = true;
    return { ...answer, problemType: s3ErrorCode(answer.text) };
  }, { notice: waiting });
  if (sent.gaveUp) { fail(serviceRetry.advice(sent.gaveUp), () => resume(form, file)); return; }
  if (sent.network) {
    fail("The network failed during the upload. Check your connection, then try again.", () => resume(form, file));
    return;
  }
  if (sent.status !== 204 && sent.status !== 201 && sent.status !== 200) {
    const problem = s3Problem(sent.text);
    fail(problem.text, problem.retry ? (problem.expired ? upload : () => resume(form, file)) : null);
    return;
  }
  const outcome = await waitForReceipt(form.upload_id);
  if (outcome === "pending") {
    fail("Your file arrived but is not recorded yet. Reload this page in a minute to see its code.");
  } else if (outcome.reason) {
    fail(`Your file arrived. ${serviceRetry.advice(outcome)} Reload this page then to see its code.`);
  }
}

async function resume(form, file) {
  clearError();
  say("Checking whether your file arrived…");
  const outcome = await waitForReceipt(form.upload_id, 8000);
  if (outcome.reason) { fail(serviceRetry.advice(outcome), () => resume(form, file)); return; }
  if (outcome !== "pending") return;
  if (new Date(form.expires_at) > new Date(Date.now() + 5000)) {
    await send(form, file);
  } else {
    await upload();
  }
}

async function upload(event) {
  if (event) event.preventDefault();
  clearError();
  $("receipt").hidden = true;
  const file = $("file").files[0];
  if (!file) { fail("Choose a file first."); return; }
  if (file.size > MAX_BYTES) {
    const bytes = (n) => n.toLocaleString("en");
    fail(`This file is ${bytes(file.size)} bytes; the limit is 3 MiB (${bytes(MAX_BYTES)} bytes). ` +
      "Choose a smaller file (for example, a compressed PDF).");
    return;
  }
  if (file.size === 0) { fail("This file is empty. Choose another file."); return; }
  $("upload-button").disabled = true;
  try {
    say("Preparing the upload…");
    // With the file's SHA-256 in the form, the storage refuses any other bytes.
    const sha256 = window.crypto && crypto.subtle ? await sha256Hex(file) : undefined;
    const presign = await call("POST", `submissions/${code}`, {
      filename: file.name, content_type: file.type || "application/octet-stream", sha256,
    });
    if (presign.gaveUp) { fail(serviceRetry.advice(presign.gaveUp), upload); return; }
    if (presign.status !== 201) {
      const problem = refusal(presign);
      fail(problem.text, problem.retry ? upload : null);
      return;
    }
    await send(presign.data, file);
  } finally {
    $("upload-button").disabled = false;
  }
}

document.addEventListener("click", async (event) => {
  const target = event.target.closest("[data-copy]");
  if (!target) return;
  const text = $(target.dataset.copy).textContent;
  try {
    await navigator.clipboard.writeText(text);
    say("Code copied.");
  } catch (err) {
    say("Select the code and copy it by hand.");
  }
});
$("code-form").addEventListener("submit", loadStudent);
$("file-form").addEventListener("submit", upload);
$("retry").addEventListener("click", () => { if (retry) retry(); });
