// The reviewer's page: verification code -> what was handed in -> a short-lived download link.
"use strict";
const api = document.body.dataset.api;
const $ = (id) => document.getElementById(id);
let code = null;

const waiting = serviceRetry.noticeIn($("status")); // "busy, retrying in 4 s…" while a request waits
function fail(text) { $("error").textContent = text; $("error").hidden = false; $("status").textContent = ""; }
function size(bytes) {
  return bytes < 1024 * 1024 ? `${Math.max(1, Math.round(bytes / 1024))} KiB (${bytes} bytes)` : `${(bytes / 1024 / 1024).toFixed(2)} MiB (${bytes} bytes)`;
}

// Every request of this page only reads (a receipt's check included): each may be sent again
// (retry.js) whatever became of the first.
async function send(path, init) {
  const sent = await serviceRetry.fetch(api + path, init, { repeatable: true, notice: waiting });
  if (sent.gaveUp) return { gaveUp: sent.gaveUp }; // a network failure too: it is repeatable
  return { status: sent.status, data: await sent.response.json().catch(() => ({})) };
}
function get(path) { return send(path, {}); }

async function check(event) {
  event.preventDefault();
  $("error").hidden = true;
  $("result").hidden = true;
  const typed = $("code").value.replace(/[\s-]/g, "").toUpperCase();
  if (typed.length !== 20) { fail("A verification code has 20 letters and digits. Check it and try again."); return; }
  $("status").textContent = "Looking up the code…";
  const result = await get(`verifications/${encodeURIComponent(typed)}`);
  if (result.gaveUp) { fail(serviceRetry.advice(result.gaveUp)); return; }
  if (result.status === 404) { fail("No file has this verification code. Check it and try again."); return; }
  if (result.status !== 200) { fail("Something went wrong on our side. Try again in a moment."); return; }
  code = typed;
  const v = result.data;
  // An anonymous exam's files are marked without names.
  $("result-title").textContent = v.student ? `${v.student.first_name} ${v.student.last_name}` : "Anonymous submission";
  $("r-exam").textContent = v.exam.title;
  $("r-late").hidden = !v.late;
  $("r-status").textContent = v.status;
  $("r-status").className = `badge ${v.status}`;
  $("r-filename").textContent = v.filename;
  $("r-size").textContent = size(v.size_bytes);
  $("r-type").textContent = v.content_type;
  $("r-time").textContent = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
    timeZoneName: "short",
  }).format(new Date(v.submitted_at)) + (v.late ? " (after the due time)" : "");
  $("r-sha").textContent = v.sha256;
  $("download").hidden = v.status !== "current";
  $("not-downloadable").hidden = v.status === "current";
  $("not-downloadable").textContent = v.status === "superseded"
    ? "The student handed in a newer file since; this one is no longer kept."
    : "Files are kept for 3 days; this one has expired.";
  $("result").hidden = false;
  $("status").textContent = `Found: ${v.filename}, ${v.status}.`;
  $("result").focus();
}

async function download() {
  const result = await get(`verifications/${code}/download_url`);
  if (result.gaveUp) { fail(serviceRetry.advice(result.gaveUp)); return; }
  if (result.status === 200) { window.location.assign(result.data.url); return; }
  if (result.status === 410) { fail("This file is no longer available."); return; }
  fail("The download link could not be made. Try again.");
}

// A receipt: checked by the server against the deployment's published keys (GET
// .well-known/jwks.json has them, for checking offline).
const CLAIMS = [
  ["exam", "Exam"], ["nickname", "Student"], ["filename", "File"], ["size", "Size (bytes)"], ["sha256", "SHA-256"],
  ["submitted_at", "Handed in"], ["late", "Late"], ["verification_code", "Verification code"],
  ["attempt", "Attempt"], ["s3_version", "Stored version"], ["iss", "Issued by"],
];

async function checkReceipt(event) {
  event.preventDefault();
  $("error").hidden = true;
  $("receipt-result").hidden = true;
  const chosen = $("receipt-file").files[0];
  const text = chosen ? (await chosen.text()).trim() : $("receipt-text").value.trim();
  if (!text) { fail("Paste a receipt, or choose its file."); return; }
  $("status").textContent = "Checking the receipt…";
  const result = await send("receipts/verify", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ receipt: text }),
  });
  if (result.gaveUp) { fail(serviceRetry.advice(result.gaveUp)); return; }
  if (result.status === 422) { fail("This is not a receipt: it is too long or empty."); return; }
  if (result.status !== 200) { fail("Something went wrong on our side. Try again in a moment."); return; }
  const v = result.data;
  $("receipt-title").textContent = v.genuine ? "A genuine receipt" : "Not a genuine receipt";
  $("receipt-verdict").textContent = v.genuine
    ? `Signed by this deployment. The file is ${v.status || "no longer on record"} now.`
    : v.reason;
  $("receipt-verdict").className = v.genuine ? "genuine" : "error";
  const list = $("receipt-claims");
  list.replaceChildren();
  for (const [name, label] of v.genuine ? CLAIMS : []) {
    const term = document.createElement("dt");
    term.textContent = label;
    const value = document.createElement("dd");
    const claim = v.claims[name];
    value.textContent = name === "attempt" ? `${claim} of ${v.claims.attempts}` : name === "late" ? (claim ? "yes" : "no") : String(claim);
    if (name === "sha256" || name === "s3_version") value.className = "mono wrap";
    list.append(term, value);
  }
  $("receipt-result").hidden = false;
  $("status").textContent = v.genuine ? "The receipt is genuine." : "The receipt is not genuine.";
  $("receipt-result").focus();
}

$("verify-form").addEventListener("submit", check);
$("receipt-form").addEventListener("submit", checkReceipt);
$("download").addEventListener("click", download);
