// The reviewer's page: verification code -> what was handed in -> a short-lived download link.
"use strict";
const api = document.body.dataset.api;
const $ = (id) => document.getElementById(id);
let code = null;

function fail(text) { $("error").textContent = text; $("error").hidden = false; $("status").textContent = ""; }
function size(bytes) {
  return bytes < 1024 * 1024 ? `${Math.max(1, Math.round(bytes / 1024))} KiB (${bytes} bytes)` : `${(bytes / 1024 / 1024).toFixed(2)} MiB (${bytes} bytes)`;
}

async function get(path) {
  try {
    const response = await fetch(api + path);
    return { status: response.status, data: await response.json().catch(() => ({})) };
  } catch (err) {
    return { network: true };
  }
}

async function check(event) {
  event.preventDefault();
  $("error").hidden = true;
  $("result").hidden = true;
  const typed = $("code").value.replace(/[\s-]/g, "").toUpperCase();
  if (typed.length !== 20) { fail("A verification code has 20 letters and digits. Check it and try again."); return; }
  $("status").textContent = "Looking up the code…";
  const result = await get(`verifications/${encodeURIComponent(typed)}`);
  if (result.network) { fail("The network failed. Check your connection and try again."); return; }
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
  if (result.status === 200) { window.location.assign(result.data.url); return; }
  if (result.status === 410) { fail("This file is no longer available."); return; }
  fail(result.network ? "The network failed. Try again." : "The download link could not be made. Try again.");
}

$("verify-form").addEventListener("submit", check);
$("download").addEventListener("click", download);
