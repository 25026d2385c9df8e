// The examiner's console: the same API as curl, with the key kept in this tab's sessionStorage.
// Everything from the API is shown with textContent: names and titles are other people's data.
"use strict";
// In a course's frame, a browser blocking third-party storage refuses sessionStorage: the tab keeps it in memory.
try { sessionStorage; } catch (err) { Object.defineProperty(window, "sessionStorage", { value: { getItem(k) { return k in this ? this[k] : null; }, setItem(k, v) { this[k] = String(v); }, removeItem(k) { delete this[k]; } } }); }
const api = document.body.dataset.api;
const $ = (id) => document.getElementById(id);
const KEY = "exam-depository-examiner-key";
const NOTICE = "exam-depository-notice"; // what to say after a sign-out, across the reload
const PAGE = 500;
const SUMMARY_OPEN_MS = 5000; // while anyone may still hand in
const SUMMARY_CLOSED_MS = 60000; // otherwise (an extension on a page not loaded may still run)
const EXPORT_EVERY_MS = 1500;
const EXPORT_BACKOFF_MAX_MS = 30000;
const EXPORT_DUE_MS = 48 * 3600 * 1000; // an export is due this long before the first file goes
const SEARCH_WAIT_MS = 300; // the search waits for a pause in the typing
const MAX_PAPER_BYTES = 20 * 1024 * 1024; // the question paper's limit, as the storage enforces it
const PAPER_CONFIRM_MS = 60000; // how long the console waits for an uploaded paper to be checked
const ownZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
// The API's field names, as the forms label them.
const FIELD_LABELS = {
  title: "Title", exam_id: "Exam id", opens_at: "Opens", due_at: "Due", cutoff_at: "Late uploads accepted until",
  timezone: "Time zone", max_attempts: "Uploads per student", extra_attempts: "Extra uploads",
  anonymous: "Anonymous", nickname: "Nickname", first_name: "First name", last_name: "Last name", email: "Email",
  q: "Search", duration_minutes: "Time limit", extra_time_percent: "Extra time, in percent",
  extra_time_minutes: "Extra time, in minutes",
};
// An exam's state as the API names it, in words.
const STATES = { upcoming: "Upcoming", open: "Open", late_period: "Late period", closed: "Closed" };
// A member's role in words, by the catalogues' keys (as team.js keeps its words).
const ROLES = {
  "team.role.owner": "Owner", "team.role.co_examiner": "Co-examiner", "team.role.grader": "Grader",
  "team.role.invigilator": "Invigilator", "team.pseudonym": "Pseudonym",
  "team.search-pseudonym": "By pseudonym, in the whole roster.",
};
const SEARCH_HINT = $("search-hint").textContent;

let examsCursor = null;
let exam = null; // the exam on show
let pageCursors = [null]; // keyset: the cursor of each page seen, to go back
let listing = { q: "", status: "" }; // the search and filter of those pages (their cursors serve only them)
let currentPage = 0;
let shownCounts = null; // the counts the roster table was drawn with
let latestCutoff = null; // the last instant anyone seen so far may still hand in
let summaryTimer = null;
let exportTimer = null;
const exportsByExam = new Map(); // exam id -> the export last started from this tab
const collected = new Map(); // exam id -> when the ZIP last downloaded from this page was prepared
let editShown = {}; // the edit form's values as last filled from the API
let extensionFor = null;
let extensionOpener = null;
let accommodationFor = null;
let accommodationOpener = null;
let droppedPaper = null;
let extensionDueShown = null;
let extensionDue = null;
let rosterAsked = 0; // the roster requests sent: only the answer to the last one is drawn
let searchTimer = null;
let studentShown = null; // the student in the dialog, as last answered
let studentOpener = null;
let receiptLinks = []; // the object URLs of the receipts the dialog offers, released when it changes
let droppedFile = null;
let clockOffset = 0; // the server's clock minus this browser's, from each answer's Date header

// --- small helpers ---------------------------------------------------------------------------

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}
// While a student's dialog is open, the rest of the page is inert: it speaks in the dialog.
function dialogOpen() { return $("student-view").open; }
function say(text) { (dialogOpen() ? $("student-status") : $("status")).textContent = text; }
const waiting = serviceRetry.noticeIn($("status")); // "busy, retrying in 4 s…" while a request waits
function clearError() { $("error").hidden = true; $("error-rows").replaceChildren(); $("retry").hidden = true; }
// The alert goes beside what it is about (the form that was refused), or under the status line.
function fail(text, { rows, near, retry } = {}) {
  const box = $("error");
  if (near) near.before(box); else (dialogOpen() ? $("student-status") : $("status")).after(box);
  $("error-text").textContent = text;
  $("error-rows").replaceChildren(...(rows || []).map((row) => el("li", {}, row)));
  $("retry").hidden = !retry;
  $("retry").onclick = retry || null;
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
const shortClock = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZone: ownZone,
});
// A time in a list: in full on a wide screen, short on a narrow one (which says the zone once, above).
function dateCell(iso) {
  return el("span", { className: "date" },
    el("span", { className: "wide-only" }, when(iso)),
    el("span", { className: "narrow-only" }, shortClock.format(new Date(iso))));
}
function badge(text, kind) { return el("span", { className: `badge ${kind}` }, text); }
function lateBadge(late) { return late ? badge("late", "late") : badge("on time", "current"); }
function spoken(text) { return el("span", { className: "visually-hidden" }, text); }
function size(bytes) {
  if (bytes < 1024 * 1024) return `${Math.max(1, Math.round(bytes / 1024))} KiB`; // never "0 KiB" for a file
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
function plural(n, one, many) { return `${n} ${n === 1 ? one : many || one + "s"}`; }
// A length of time given in seconds, in whole parts: "3 h 45 min", "1 min 20 s".
function timeSpan(seconds) {
  const parts = [[Math.floor(seconds / 86400), "d"], [Math.floor((seconds % 86400) / 3600), "h"],
    [Math.floor((seconds % 3600) / 60), "min"], [Math.floor(seconds % 60), "s"]];
  return parts.filter(([n]) => n > 0).map(([n, unit]) => `${n} ${unit}`).join(" ") || "0 min";
}
// A student's extra time in a timed exam: "+25 %", "+30 min", "+25 % +30 min"; "" for none.
function extraTime(s) {
  return [s.extra_time_percent ? `+${s.extra_time_percent} %` : "", s.extra_time_minutes ? `+${timeSpan(s.extra_time_minutes * 60)}` : ""]
    .filter(Boolean).join(" ");
}
// A time limit from its two fields: minutes, or null when both are empty (no time limit).
function durationFrom(hoursField, minutesField) {
  const [hours, minutes] = [hoursField.value.trim(), minutesField.value.trim()];
  if (!hours && !minutes) return null;
  const total = Number(hours || 0) * 60 + Number(minutes || 0);
  if (!Number.isInteger(total) || total < 1 || total > 10080 || Number(minutes || 0) > 59) {
    throw new Mistake("Time limit: whole hours and minutes (0–59), from 1 minute to 168 hours; leave both empty for none.");
  }
  return total;
}
function showDuration(hoursField, minutesField, minutes) {
  hoursField.value = minutes === null ? "" : Math.floor(minutes / 60);
  minutesField.value = minutes === null ? "" : minutes % 60;
}

// A mistake the console finds before asking the API.
class Mistake extends Error {}

// A datetime-local field holds a wall-clock time in this browser's zone, to the minute.
function fieldValue(iso) {
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
// A zone's offset from UTC at an instant, in ms, from the browser's own time-zone data.
const zoneClocks = new Map();
function offsetAt(ms, zone) {
  if (!zoneClocks.has(zone)) {
    zoneClocks.set(zone, new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric",
      hour: "numeric", minute: "numeric", second: "numeric",
    }));
  }
  const part = {};
  for (const { type, value } of zoneClocks.get(zone).formatToParts(new Date(ms))) part[type] = Number(value);
  const wall = new Date(0);
  wall.setUTCFullYear(part.year, part.month - 1, part.day);
  wall.setUTCHours(part.hour, part.minute, part.second);
  return wall.getTime() - Math.floor(ms / 1000) * 1000;
}
// Every instant at which `zone`'s clocks read `wall` (that wall-clock time's ms as if in UTC):
// one, none where the clocks go forward, two where they go back, whatever the size of the shift
// (an hour in Paris, 30 minutes on Lord Howe Island). The offsets a day before and a day after
// are the only candidates: no zone changes its offset twice within two days.
function instantsAt(wall, zone) {
  const day = 24 * 3600 * 1000;
  const offsets = new Set([offsetAt(wall - day, zone), offsetAt(wall + day, zone)]);
  return [...offsets].map((offset) => wall - offset).filter((t) => offsetAt(t, zone) === wall - t).sort((a, b) => a - b);
}
function lasting(ms) {
  const minutes = Math.round(Math.abs(ms) / 60000);
  return minutes % 60 ? plural(minutes, "minute") : plural(minutes / 60, "hour");
}
// The instant a field names, refusing the wall-clock times a DST change skips or repeats.
function instantFrom(field) {
  if (!field.value) return null;
  const label = document.querySelector(`label[for="${field.id}"]`).textContent;
  const typed = /^(\d{4,})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d))?/.exec(field.value);
  if (!typed) throw new Mistake(`${label}: ${field.value} is not a date and time.`);
  const [year, month, day, hour, minute, second] = typed.slice(1).map((n) => Number(n || 0));
  const wall = new Date(0);
  wall.setUTCFullYear(year, month - 1, day);
  wall.setUTCHours(hour, minute, second);
  const shown = field.value.replace("T", " ");
  const instants = instantsAt(wall.getTime(), ownZone);
  if (instants.length === 0) {
    const day = 24 * 3600 * 1000;
    const shift = lasting(offsetAt(wall.getTime() + day, ownZone) - offsetAt(wall.getTime() - day, ownZone));
    throw new Mistake(`${label}: ${shown} does not exist in ${ownZone} (the clocks go forward ${shift}). Choose another time.`);
  }
  if (instants.length > 1) {
    const shift = lasting(instants[1] - instants[0]);
    throw new Mistake(`${label}: ${shown} happens twice in ${ownZone} (the clocks go back ${shift} that night). Choose a time that happens once.`);
  }
  return new Date(instants[0]).toISOString();
}

// --- the API ---------------------------------------------------------------------------------

class Refused extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title || problem.message)) || `The service answered ${status}.`);
    this.status = status;
    this.problem = problem || {};
  }
}

async function problemOf(response) {
  const type = response.headers.get("content-type") || "";
  return /json/.test(type) ? response.json().catch(() => ({})) : {};
}

// One request with the key. A 403 that is no problem (API Gateway refusing the key) signs out; a
// role's refusal is shown. A busy
// or starting service's answer is retried (retry.js); after a timeout, a lost answer or a 503
// `service-unavailable` only a GET is sent again by itself, since a change may have been made
// (the examiner is shown the problem's detail, with Try again).
async function call(method, path, { json, file, accept, anyone } = {}) {
  // `anyone`: a route open to anyone with the code (a reviewer's): the key is not sent there.
  const lti = sessionStorage["lti-session"]; // a teacher launched from their course: lti.js
  const headers = anyone ? {} : lti ? { Authorization: `Bearer ${lti}` } : { "x-api-key": sessionStorage.getItem(KEY) || "" };
  if (json) headers["Content-Type"] = "application/json";
  if (file) headers["Content-Type"] = "text/csv";
  if (accept) headers.Accept = accept;
  const init = { method, headers, body: json ? JSON.stringify(json) : file, cache: "no-store" };
  const sent = await serviceRetry.fetch(api + path, init, { repeatable: method === "GET", notice: waiting });
  if (sent.gaveUp) throw new Refused(0, { detail: serviceRetry.advice(sent.gaveUp) });
  if (sent.network) throw new Refused(0, { detail: "The network failed. Check your connection, then try again." });
  const response = sent.response;
  const date = response.headers.get("date");
  if (date) clockOffset = new Date(date) - Date.now();
  if (response.status === 403 && !/problem\+json/.test(response.headers.get("content-type"))) {
    signOut("The service refused your key. Check it with your administrator and sign in again.");
    throw new Refused(403, { detail: "The key was refused.", signedOut: true });
  }
  if (response.status === 401) signOut((await problemOf(response.clone())).detail); // the session ended
  if (response.status === 504) {
    // API Gateway stopped waiting; the function may have finished the change after that.
    throw new Refused(504, { detail: "The service took too long to answer: the change may or may not be made. Check, then try again." });
  }
  if (!response.ok) {
    const problem = await problemOf(response);
    if (response.status >= 500 && !problem.detail) {
      throw new Refused(response.status, { detail: "Something went wrong on our side. Try again in a moment." });
    }
    throw new Refused(response.status, problem);
  }
  if (response.status === 204) return { status: 204 };
  if (accept === "text/csv") return { status: response.status, blob: await response.blob(), response };
  const data = /json/.test(response.headers.get("content-type") || "") ? await response.json().catch(() => null) : null;
  if (data === null) {
    // A proxy or a captive portal answered instead of the API.
    throw new Refused(0, { detail: "Something other than the service answered. Check your connection, then reload." });
  }
  return { status: response.status, data };
}

function fieldName(location) {
  const parts = (location || []).filter((part) => !["body", "query", "path"].includes(part));
  return parts.map((part) => FIELD_LABELS[part] || part).join(" ");
}
function words(message) { return String(message).replace(/^Value error, /, ""); }

// A refusal in the alert box: rows of a CSV by line, fields of a form by their labels.
function showRefusal(err, near, retry) {
  if (err.problem.signedOut) return;
  const listed = err.problem.errors || [];
  if (listed.length && listed[0].line !== undefined) {
    const rows = listed.map((row) => `Line ${row.line}${row.field ? `, ${row.field}` : ""}: ${words(row.message)}`);
    fail(err.message, { rows, near });
  } else if (listed.length) {
    const rows = listed.map((row) => `${fieldName(row.location)}${fieldName(row.location) ? ": " : ""}${words(row.message)}`);
    fail(rows.length === 1 ? rows[0] : "Check these fields:", { rows: rows.length === 1 ? [] : rows, near });
  } else {
    fail(words(err.message), { near, retry: err.status === 0 || err.status >= 500 ? retry : null });
  }
}

// One action of the examiner: its errors shown beside `near`, `busy` disabled meanwhile (a
// second click does not send it twice).
async function attempt(work, { near, busy } = {}) {
  if (busy && busy.dataset.busy) return;
  clearError();
  if (busy) { busy.dataset.busy = "yes"; busy.setAttribute("aria-disabled", "true"); }
  try {
    await work();
  } catch (err) {
    if (err instanceof Refused) showRefusal(err, near, () => attempt(work, { near, busy }));
    else if (err instanceof Mistake) fail(err.message, { near });
    else {
      fail("Something unexpected happened. Reload the page and try again.", { near });
      console.error(err); // for whoever debugs it; the tests fail on it
    }
  } finally {
    if (busy) { delete busy.dataset.busy; busy.removeAttribute("aria-disabled"); }
  }
}
function busyButton(form) { return form.querySelector("button[type=submit]"); }

// --- signing in and out ----------------------------------------------------------------------

function show(view) {
  if (view !== "exam" && dialogOpen()) $("student-view").close();
  $("sign-in").hidden = view !== "sign-in";
  $("exams-view").hidden = view !== "exams";
  $("exam-view").hidden = view !== "exam";
  $("sign-out").hidden = !sessionStorage.getItem(KEY);
  if (view !== "exam") stopTimers();
}

function stopTimers() {
  clearTimeout(summaryTimer);
  clearTimeout(exportTimer);
  summaryTimer = exportTimer = null;
}

// Signing out forgets the key and reloads: nothing of the exams stays in the page.
function signOut(why) {
  sessionStorage.removeItem(KEY);
  sessionStorage.setItem(NOTICE, JSON.stringify(why ? { alert: why } : { status: "Signed out. The key is forgotten." }));
  window.location.reload();
}

async function signIn(event) {
  event.preventDefault();
  const key = $("key").value.trim();
  if (!key) { fail("Paste your examiner key first.", { near: $("sign-in") }); return; }
  sessionStorage.setItem(KEY, key);
  $("key").value = "";
  say("Signing in…");
  await attempt(async () => {
    try {
      await showExams();
    } catch (err) {
      sessionStorage.removeItem(KEY); // a key that was never accepted is not kept
      $("sign-out").hidden = true;
      throw err;
    }
    say("Signed in.");
  }, { near: $("sign-in"), busy: busyButton($("sign-in")) });
}

// --- the exams -------------------------------------------------------------------------------

// A cell that says what it is when a narrow screen shows the row as a card.
function cell(label, className, ...content) {
  const td = el("td", { className }, ...content);
  td.dataset.label = label;
  return td;
}
function stateBadge(state) { return badge(STATES[state] || state, `state ${state}`); }
function roleName(role) { return ROLES[`team.role.${role}`] || role; }

function examRow(item) {
  const open = el("button", { type: "button", className: "link" }, item.title);
  open.addEventListener("click", () => attempt(() => openExam(item.exam_id), { busy: open }));
  const c = item.counts;
  return el("tr", {},
    el("th", { scope: "row" }, open, " ", badge(roleName(item.role), "role"), el("div", { className: "hint mono" }, item.exam_id)),
    cell("State", "state", stateBadge(item.state)),
    cell("Due", "due", dateCell(item.due_at)),
    cell("Students", "count", c.students), cell("Handed in", "count", c.handed_in),
    cell("Of them late", "count", c.late), cell("Not yet", "count", c.none_yet));
}

async function showExams(more) {
  const query = more && examsCursor ? `&cursor=${encodeURIComponent(examsCursor)}` : "";
  const { data } = await call("GET", `exams?limit=50${query}`);
  const body = $("exams-table").tBodies[0];
  if (!more) {
    body.replaceChildren();
    say(""); // what was said about the exam left behind (a ZIP ready) is not about this list
  }
  const rows = data.items.map(examRow);
  body.append(...rows);
  examsCursor = data.next_cursor;
  $("more-exams").hidden = !examsCursor;
  $("no-exams").hidden = body.rows.length > 0;
  $("exams-table").hidden = body.rows.length === 0;
  exam = null;
  show("exams");
  extras((p) => p.forms());
  if (more && rows.length) rows[0].querySelector("button").focus();
  else if (!more) $("exams-title").focus();
}

function slug(text) {
  return text.toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
    .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63);
}

async function createExam(event) {
  event.preventDefault();
  const form = $("create-exam");
  await attempt(async () => {
    const missing = ["exam-title", "exam-id", "exam-opens", "exam-due", "exam-cutoff"]
      .filter((id) => !$(id).value.trim()).map((id) => document.querySelector(`label[for="${id}"]`).textContent);
    if (missing.length) throw new Mistake(`Fill in: ${missing.join(", ")}.`);
    const json = {
      title: $("exam-title").value, exam_id: $("exam-id").value.trim(),
      opens_at: instantFrom($("exam-opens")), due_at: instantFrom($("exam-due")),
      cutoff_at: instantFrom($("exam-cutoff")), timezone: $("exam-zone").value,
      max_attempts: Number($("exam-attempts").value), anonymous: $("exam-anonymous").checked,
    };
    const duration = durationFrom($("exam-hours"), $("exam-minutes"));
    if (duration !== null) json.duration_minutes = duration;
    Object.assign(json, await extraFields(form));
    const { data } = await call("POST", "exams", { json });
    form.reset();
    delete $("exam-id").dataset.typed;
    $("exam-zone").value = ownZone;
    await openExam(data.exam_id);
    say(`Created “${data.title}”.`);
  }, { near: form, busy: busyButton(form) });
}

// --- one exam --------------------------------------------------------------------------------

function path(...parts) { return parts.map(encodeURIComponent).join("/"); }

function setText(id, text) { if ($(id).textContent !== String(text)) $(id).textContent = text; }

function showSummary(counts) {
  // Only what changed is written: a screen reader hears the live region when it does.
  setText("count-students", counts.students);
  setText("count-handed-in", counts.handed_in);
  setText("count-late", counts.late);
  setText("count-none", counts.none_yet);
  $("summary-time").textContent = `As of ${when(now().toISOString())}.`;
  $("roster-stale").hidden = !shownCounts || JSON.stringify(counts) === JSON.stringify(shownCounts);
  extras((p) => p.banner(exam));
}

function fillEditForm(data) {
  editShown = {
    title: data.title, "edit-opens": fieldValue(data.opens_at), "edit-due": fieldValue(data.due_at),
    "edit-cutoff": fieldValue(data.cutoff_at), "edit-attempts": String(data.max_attempts),
    "edit-zone": data.timezone, "edit-anonymous": data.anonymous, duration: data.duration_minutes ?? null,
  };
  showDuration($("edit-hours"), $("edit-minutes"), editShown.duration);
  $("edit-title").value = data.title;
  for (const id of ["edit-opens", "edit-due", "edit-cutoff", "edit-attempts"]) $(id).value = editShown[id];
  if (![...$("edit-zone").options].some((option) => option.value === data.timezone)) {
    $("edit-zone").append(el("option", { value: data.timezone }, data.timezone)); // a zone this browser does not list
  }
  $("edit-zone").value = data.timezone;
  $("edit-anonymous").checked = data.anonymous;
  $("edit-exam").dataset.changed = "";
  extras((p) => p.fill(data));
}

function showState(state) {
  $("exam-state").className = `badge state ${state}`;
  setText("exam-state", STATES[state] || state);
}

// What the caller's role may do in this exam, as the API says.
function may(action) { return exam.allowed_actions.includes(action); }

function showExam(data) {
  const sameExam = exam && exam.exam_id === data.exam_id;
  exam = data;
  $("exam-heading").textContent = data.title;
  showState(data.state);
  setText("exam-role", roleName(data.role));
  for (const node of document.querySelectorAll("[data-needs]")) node.hidden = !may(node.dataset.needs);
  const zone = data.timezone === ownZone ? "" : ` In the exam's zone (${data.timezone}): due ${inZone(data.due_at, data.timezone)}.`;
  const late = data.cutoff_at > data.due_at ? `, late uploads until ${when(data.cutoff_at)}` : ", no late uploads";
  $("exam-window").textContent = `${data.exam_id}: opens ${when(data.opens_at)}, due ${when(data.due_at)}${late}; ` +
    `${plural(data.max_attempts, "upload")} per student${data.anonymous ? "; anonymous" : ""}.${zone}`;
  // What the examiner is typing into the edit form is theirs until they save it.
  if (!sameExam || !$("edit-exam").dataset.changed) fillEditForm(data);
  latestCutoff = new Date(Math.max(new Date(data.cutoff_at), latestCutoff && sameExam ? latestCutoff : 0));
  showSummary(data.counts);
  showTiming();
  showPaper();
  showRetention();
}

// A timed exam: its time limit and how many have started, beside the window.
function showTiming() {
  const minutes = exam.duration_minutes;
  $("exam-timing").hidden = !minutes;
  $("roster").classList.toggle("untimed", !minutes);
  if (minutes) setText("exam-timing", `Timed: ${timeSpan(minutes * 60)} · Started ${exam.counts.started} of ${exam.counts.students}`);
}

// When the exam's files start to go, and a warning while an export is due: files handed in, the
// exam past its cut-off or its first file deleted within 48 hours, and no ZIP downloaded from
// this page that was prepared after the last cut-off seen (a reload forgets downloads: it warns
// again rather than never).
function showRetention() {
  const from = exam.files_deleted_from;
  const examZone = exam.timezone === ownZone ? "" : ` (in the exam's zone: ${inZone(from, exam.timezone)})`;
  $("files-deleted").textContent = exam.counts.handed_in
    ? `Files are deleted from ${when(from)}${examZone}. Download the ZIP before then.`
    : `No file is handed in yet. Files handed in by the cut-off are deleted from ${when(from)}${examZone}.`;
  const t = now();
  const lastCutoff = new Date(Math.max(new Date(exam.cutoff_at), latestCutoff || 0));
  const prepared = collected.get(exam.exam_id);
  const past = t >= new Date(exam.cutoff_at);
  const due = may("export.create") && exam.counts.handed_in > 0 && (past || new Date(from) - t <= EXPORT_DUE_MS) &&
    !(prepared && new Date(prepared) >= lastCutoff);
  $("export-due").hidden = !due;
  if (!due) return;
  let text;
  if (new Date(from) <= t) {
    text = `Export now: files of this exam are deleted from ${when(from)}, and the next clean-up deletes them. ` +
      "Prepare the ZIP below and download it to keep what is left.";
  } else if (past) {
    text = `Export due: the exam is past its cut-off, and its files are deleted from ${when(from)}. ` +
      "Prepare the ZIP below and download it before then.";
  } else {
    text = `Export due: files of this exam are deleted from ${when(from)}, in less than 48 hours. ` +
      "Prepare the ZIP below and download it before then.";
  }
  const last = when(lastCutoff.toISOString());
  if (prepared) {
    text += ` The ZIP downloaded here was prepared before the cut-off (${last}), while students could still hand in: ` +
      "prepare and download another after it.";
  } else if (lastCutoff > t) {
    text += ` Students may hand in until ${last}: download a ZIP prepared after then too.`;
  }
  $("export-due").textContent = text;
}

async function openExam(examId) {
  const { data } = await call("GET", path("exams", examId));
  stopTimers();
  exam = null;
  latestCutoff = null;
  $("export-progress").textContent = "";
  $("export-download").hidden = true;
  $("start-export").disabled = false;
  $("start-export").className = "primary";
  $("import-result").hidden = true;
  $("added").hidden = true;
  $("paper-form").reset();
  droppedPaper = null;
  $("paper-drop-name").textContent = "";
  parkRowForms();
  closeTeam();
  $("delete-confirm").hidden = true;
  $("close-confirm").hidden = true;
  $("filter").value = "";
  $("search").value = "";
  clearTimeout(searchTimer);
  pageCursors = [null];
  listing = { q: "", status: "" };
  shownCounts = null;
  showExam(data);
  await loadRoster(0);
  show("exam");
  $("exam-view").focus();
  watchSummary();
  if (exportsByExam.has(examId)) watchExport(0);
}

// While anyone may still hand in the summary refreshes every few seconds, otherwise every
// minute; the table offers a refresh instead of redrawing under the examiner's hands.
function watchSummary() {
  clearTimeout(summaryTimer);
  const t = now();
  const open = exam && t >= new Date(new Date(exam.opens_at) - SUMMARY_OPEN_MS) && latestCutoff && t <= latestCutoff;
  summaryTimer = setTimeout(async () => {
    if (!exam) return;
    if (!document.hidden) {
      const examId = exam.exam_id;
      try {
        const { data } = await call("GET", path("exams", examId));
        if (exam && exam.exam_id === examId) {
          exam = {
            ...exam, counts: data.counts, files_deleted_from: data.files_deleted_from, state: data.state,
            paper: data.paper, paper_uploads: data.paper_uploads, scan_counts: data.scan_counts,
          };
          showState(data.state);
          showSummary(data.counts);
          showTiming();
          showPaper();
          showRetention();
        }
      } catch (err) {
        if (err instanceof Refused && err.status === 404) { await gone(); return; }
        // A missed refresh is retried at the next tick; the "As of" time says how fresh it is.
      }
    }
    watchSummary();
  }, open ? SUMMARY_OPEN_MS : SUMMARY_CLOSED_MS);
}

async function gone() {
  const title = exam ? exam.title : "This exam";
  await attempt(() => showExams());
  fail(`“${title}” no longer exists: it was deleted, perhaps from another tab.`);
}

function handedIn(student) {
  const current = student.current;
  if (!current) return badge("not yet", "none");
  return el("span", {}, dateCell(current.submitted_at), " ", lateBadge(current.late));
}

function extensionText(extension) {
  if (!extension) return "—";
  const extra = extension.extra_attempts ? `, +${plural(extension.extra_attempts, "upload")}` : "";
  return el("span", {}, "due ", dateCell(extension.due_at), extra);
}

// A grader of an anonymous exam sees pseudonyms alone (the API takes one for a nickname).
function handle(s) { return s.nickname ?? s.pseudonym; }

function studentRow(student) {
  const extension = student.extension;
  const nickname = handle(student);
  // Whose row a button acts on, for a screen reader that hears the button alone.
  const whose = (preposition) => spoken(` ${preposition} ${nickname}`);
  const details = el("button", { type: "button", className: "link mono" }, spoken("Details of "), nickname);
  details.addEventListener("click", () => attempt(() => openStudent(nickname, details), { busy: details }));
  const give = el("button", { type: "button", className: "secondary" },
    extension ? "Change extension" : "Give extension", whose(extension ? "of" : "to"));
  give.addEventListener("click", () => openExtension(student, give));
  const actions = el("td", { className: "actions" }, give);
  give.hidden = !may("extension.change");
  if (extension && may("extension.change")) {
    const remove = el("button", { type: "button", className: "secondary" }, "Remove extension", whose("of"));
    remove.addEventListener("click", () => attempt(() => removeExtension(student), { busy: remove }));
    actions.append(" ", remove);
  }
  const extra = el("button", { type: "button", className: "secondary" }, "Extra time", whose("for"));
  extra.dataset.action = "extra-time";
  extra.hidden = !may("accommodation.change");
  extra.addEventListener("click", () => openAccommodation(student, extra));
  actions.append(" ", extra);
  const extraText = extraTime(student);
  const row = el("tr", {},
    el("th", { scope: "row", className: "nickname" }, details),
    el("td", { className: "name", hidden: !student.first_name }, fullName(student)),
    cell("Uploads", "uploads", `${student.attempts_used} of ${student.max_attempts}`),
    cell("Handed in", "submitted", handedIn(student)),
    cell("Kept until", student.current ? "kept" : "kept empty", student.current ? dateCell(student.current.expires_at) : "—"),
    cell("Extension", extension ? "extension" : "extension empty", extensionText(extension)),
    cell("Extra time", extraText ? "extra" : "extra empty", extraText || "—"),
    cell("Started", "started timed-only", student.started_at ? dateCell(student.started_at) : badge("not started", "none")),
    cell("Their due time", "own-due timed-only", dateCell(student.due_at)),
    actions);
  row.dataset.nickname = nickname;
  extras((p) => p.row(student, row));
  return row;
}

// A page of the roster, drawn with the exam's counts of the same moment. `focus` says where the
// keyboard goes once the old rows are gone: a student's row, or the Students heading. The search
// and the filter are the server's, over the whole roster; a cursor holds only with the same ones,
// so a page is of the listing on show (what the search box holds may not be searched yet), and a
// new search (`wanted`) starts again from its first page.
async function loadRoster(index, focus, wanted = listing) {
  const asked = ++rosterAsked;
  const { q, status } = wanted;
  const cursor = wanted === listing ? pageCursors[index] : null;
  const query = new URLSearchParams({ limit: PAGE });
  if (q) query.set("q", q);
  if (status) query.set("status", status);
  if (cursor) query.set("cursor", cursor);
  let answers;
  try {
    answers = await Promise.all([
      call("GET", `${path("exams", exam.exam_id, "students")}?${query}`),
      call("GET", path("exams", exam.exam_id)),
    ]);
  } catch (err) {
    if (asked !== rosterAsked) return; // a later search answers instead
    throw err;
  }
  if (asked !== rosterAsked) return; // typed on: the answer to an earlier search came late
  const [{ data }, fresh] = answers;
  parkRowForms();
  if (wanted !== listing) pageCursors = [null];
  listing = wanted;
  currentPage = index;
  pageCursors = pageCursors.slice(0, index + 1);
  if (data.next_cursor) pageCursors.push(data.next_cursor);
  const nameless = data.items.some((s) => s.nickname === null);
  const [handleHead, nameHead] = $("roster").tHead.rows[0].cells;
  handleHead.textContent = nameless ? ROLES["team.pseudonym"] : "Nickname";
  nameHead.hidden = nameless;
  $("search-hint").textContent = nameless ? ROLES["team.search-pseudonym"] : SEARCH_HINT;
  $("roster").tBodies[0].replaceChildren(...data.items.map(studentRow));
  $("roster-empty").hidden = data.items.length > 0;
  $("roster-empty").textContent = q ? `No student matches “${q}”${status ? " among those shown" : ""}.` : "No student here.";
  $("prev-page").hidden = index === 0;
  $("next-page").hidden = !data.next_cursor;
  $("next-page").onclick = () => attempt(() => loadRoster(index + 1, "heading"), { busy: $("next-page") });
  $("prev-page").onclick = () => attempt(() => loadRoster(index - 1, "heading"), { busy: $("prev-page") });
  const first = index * PAGE + 1;
  const matching = q ? ` matching “${q}”` : "";
  $("page-position").textContent = data.items.length
    ? `Students ${first}–${first + data.items.length - 1}${matching}${data.next_cursor ? ", more after" : ""}.` : "";
  const cutoffs = data.items.map((s) => new Date(s.cutoff_at));
  latestCutoff = new Date(Math.max(latestCutoff || 0, ...cutoffs));
  showExam(fresh.data);
  shownCounts = fresh.data.counts;
  $("roster-stale").hidden = true;
  if (focus === "heading") $("students-title").focus();
  else if (focus) {
    const row = document.querySelector(`#roster tr[data-nickname="${CSS.escape(focus)}"] td.actions button`);
    (row || $("students-title")).focus();
  }
}

// A new search or filter: its first page, now (the typing's pause is waited for by the caller).
function search() {
  clearTimeout(searchTimer);
  const wanted = { q: $("search").value.trim(), status: $("filter").value };
  return attempt(() => loadRoster(0, undefined, wanted), { near: $("search-form") });
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
  }, { busy: $("download-roster") });
}

// --- adding students -------------------------------------------------------------------------

async function addStudent(event) {
  event.preventDefault();
  const form = $("add-student");
  await attempt(async () => {
    const missing = ["add-nickname", "add-first", "add-last"].filter((id) => !$(id).value.trim())
      .map((id) => document.querySelector(`label[for="${id}"]`).textContent);
    if (missing.length) throw new Mistake(`Fill in: ${missing.join(", ")}.`);
    const json = { nickname: $("add-nickname").value.trim(), first_name: $("add-first").value, last_name: $("add-last").value };
    if ($("add-email").value.trim()) json.email = $("add-email").value.trim();
    $("added").hidden = true;
    const { data } = await call("POST", path("exams", exam.exam_id, "students"), { json });
    form.reset();
    $("added-what").textContent = `Added ${data.first_name} ${data.last_name} (${data.nickname}).`;
    $("added-code").textContent = data.upload_code;
    $("added").hidden = false;
    await loadRoster(currentPage);
    say(`${$("added-what").textContent} Their upload code is shown below the form.`);
    $("add-nickname").focus(); // the next latecomer
  }, { near: form, busy: busyButton(form) });
}

async function importRoster(event) {
  event.preventDefault();
  const form = $("import-form");
  await attempt(async () => {
    const file = droppedFile || $("roster-file").files[0];
    if (!file) throw new Mistake("Choose or drop a CSV file first.");
    $("import-result").hidden = true;
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
    extras((p) => p.imported && p.imported(data));
    form.reset();
    droppedFile = null;
    $("drop-name").textContent = "";
    say($("import-summary").textContent);
    await loadRoster(0);
  }, { near: form, busy: busyButton(form) });
}

function dropRoster(event) {
  event.preventDefault();
  $("drop-zone").classList.remove("over");
  const file = event.dataTransfer.files[0];
  if (!file) return;
  droppedFile = file;
  $("roster-file").value = ""; // one file at a time: the dropped one
  $("drop-name").textContent = `Ready: ${file.name}`;
}

async function importExtensions(event) {
  event.preventDefault();
  const form = $("extensions-import-form");
  await attempt(async () => {
    const file = $("extensions-file").files[0];
    if (!file) throw new Mistake("Choose a CSV file of extensions first.");
    const { data } = await call("POST", path("exams", exam.exam_id, "extensions", "import"), { file });
    form.reset();
    await loadRoster(currentPage);
    say(`Gave ${plural(data.extended.length, "extension")}.`);
  }, { near: form, busy: busyButton(form) });
}

// --- extensions ------------------------------------------------------------------------------

// A row's form (an extension, extra time) goes under the row it was opened from, one at a time,
// and back to its place when it closes.
const ROW_FORMS = { "extension-form": "extension-home", "accommodation-form": "accommodation-home" };
function parkRowForms() {
  for (const [id, home] of Object.entries(ROW_FORMS)) {
    const form = $(id);
    form.hidden = true;
    const row = form.closest("tr");
    if (row) { $(home).append(form); row.remove(); }
  }
}

function openRowForm(id, opener) {
  parkRowForms();
  const row = opener.closest("tr");
  row.after(el("tr", { className: "form-row" }, el("td", { colSpan: row.cells.length }, $(id))));
  $(id).hidden = false;
}

function openExtension(student, opener) {
  openRowForm("extension-form", opener);
  extensionFor = student;
  extensionOpener = opener;
  $("extension-title").textContent = `Extension for ${student.nickname} (${student.first_name} ${student.last_name})`;
  // The due time an extension moves: the exam's or the extension's (a timed student's own is sooner).
  extensionDue = student.extension ? student.extension.due_at : exam.due_at;
  extensionDueShown = fieldValue(extensionDue);
  $("extension-due").value = extensionDueShown;
  $("extension-cutoff").value = student.extension ? fieldValue(student.extension.cutoff_at) : "";
  $("extension-attempts").value = student.extension ? student.extension.extra_attempts : 0;
  $("extension-due").focus();
}

function closeExtension() {
  parkRowForms();
  if (extensionOpener && extensionOpener.isConnected) extensionOpener.focus();
  extensionFor = extensionOpener = null;
}

async function giveExtension(event) {
  event.preventDefault();
  const form = $("extension-form");
  await attempt(async () => {
    if (!$("extension-due").value) throw new Mistake("Choose the student's due time.");
    // Untouched, the field means the due time shown, to the second (the field holds minutes).
    const due = $("extension-due").value === extensionDueShown ? extensionDue : instantFrom($("extension-due"));
    if (new Date(due) < new Date(exam.due_at)) {
      throw new Mistake(`An extension only moves the due time later: the exam's is ${when(exam.due_at)}.`);
    }
    const json = { due_at: due, extra_attempts: Number($("extension-attempts").value || 0) };
    const cutoff = instantFrom($("extension-cutoff"));
    if (cutoff) json.cutoff_at = cutoff;
    const nickname = extensionFor.nickname;
    const { data } = await call("PUT", path("exams", exam.exam_id, "students", nickname, "extension"), { json });
    parkRowForms();
    extensionFor = extensionOpener = null;
    latestCutoff = new Date(Math.max(latestCutoff, new Date(data.cutoff_at)));
    await loadRoster(currentPage, nickname);
    say(`${nickname} is now due ${when(data.due_at)}.`);
  }, { near: form, busy: busyButton(form) });
}

async function removeExtension(student) {
  await call("DELETE", path("exams", exam.exam_id, "students", student.nickname, "extension"));
  await loadRoster(currentPage, student.nickname);
  say(`${student.nickname}'s extension is removed: the exam's window holds again.`);
}

// --- extra time (accommodations) -------------------------------------------------------------

function openAccommodation(student, opener) {
  openRowForm("accommodation-form", opener);
  accommodationFor = student;
  accommodationOpener = opener;
  $("accommodation-title").textContent = `Extra time for ${student.nickname} (${student.first_name} ${student.last_name})`;
  $("accommodation-percent").value = student.extra_time_percent || 0;
  $("accommodation-minutes").value = student.extra_time_minutes || 0;
  $("accommodation-percent").focus();
}

function closeAccommodation() {
  parkRowForms();
  if (accommodationOpener && accommodationOpener.isConnected) accommodationOpener.focus();
  accommodationFor = accommodationOpener = null;
}

// The keyboard goes back to the student's Extra time button once the roster is drawn again.
function focusExtraTime(nickname) {
  const button = document.querySelector(`#roster tr[data-nickname="${CSS.escape(nickname)}"] button[data-action="extra-time"]`);
  if (button) button.focus();
}

async function saveAccommodation(event) {
  event.preventDefault();
  const form = $("accommodation-form");
  await attempt(async () => {
    const json = {
      extra_time_percent: Number($("accommodation-percent").value || 0),
      extra_time_minutes: Number($("accommodation-minutes").value || 0),
    };
    const nickname = accommodationFor.nickname;
    const { data } = await call("PUT", path("exams", exam.exam_id, "students", nickname, "accommodation"), { json });
    parkRowForms();
    accommodationFor = accommodationOpener = null;
    await loadRoster(currentPage);
    focusExtraTime(nickname);
    const extra = extraTime(data);
    say(extra ? `${nickname} has ${extra} extra time${exam.duration_minutes ? `; due ${when(data.due_at)}` : ""}.`
      : `${nickname} has no extra time.`);
  }, { near: form, busy: busyButton(form) });
}

async function importAccommodations(event) {
  event.preventDefault();
  const form = $("accommodations-import-form");
  await attempt(async () => {
    const file = $("accommodations-file").files[0];
    if (!file) throw new Mistake("Choose a CSV file of accommodations first.");
    const { data } = await call("POST", path("exams", exam.exam_id, "accommodations", "import"), { file });
    form.reset();
    await loadRoster(currentPage);
    say(`Set the extra time of ${plural(data.accommodated.length, "student")}.`);
  }, { near: form, busy: busyButton(form) });
}

// --- the question paper ----------------------------------------------------------------------

// In words, why the paper that arrived was not kept.
const PAPER_REJECTED = {
  empty: "the file was empty",
  too_large: "it is larger than 20 MiB",
  not_pdf: "it is not a PDF",
  checksum_mismatch: "the file that arrived is not the one chosen",
  after_opening: "it arrived after the exam opened",
};

// The paper in place, and whether it may still be replaced (until the exam opens).
function showPaper() {
  const paper = exam.paper;
  $("paper-current").replaceChildren(paper
    ? el("p", {}, el("span", { className: "strong wrap" }, paper.filename),
      `, ${size(paper.size_bytes)}, uploaded ${when(paper.uploaded_at)}; SHA-256 `,
      el("span", { className: "mono wrap" }, paper.sha256), ".")
    : el("p", { className: "hint" }, "No question paper."));
  const locked = now() >= new Date(exam.opens_at);
  $("paper-form").hidden = locked;
  $("paper-locked").hidden = !locked;
  $("paper-locked").textContent = paper
    ? "The exam has opened: its paper can no longer be replaced."
    : "The exam has opened: a question paper can no longer be added.";
}

async function sha256Hex(file) {
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

// XMLHttpRequest, not fetch: only it reports upload progress. Every field first, the file last.
function postPaper(form, file) {
  return new Promise((resolve) => {
    const body = new FormData();
    for (const [name, value] of Object.entries(form.fields)) body.append(name, value);
    body.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.url);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) $("paper-progress").value = Math.round((e.loaded / e.total) * 100); };
    xhr.onload = () => resolve({ status: xhr.status, text: xhr.responseText });
    xhr.onerror = () => resolve({ network: true });
    xhr.send(body);
  });
}

// What the storage's refusal of the paper means.
function storageRefusal(text) {
  const found = /<Code>([^<]+)<\/Code>[\s\S]*?<Message>([^<]*)<\/Message>/.exec(text || "");
  if (found && found[1] === "EntityTooLarge") return "The storage refused the paper: it is larger than 20 MiB.";
  if (found && /expired/i.test(found[2])) {
    return "The upload's form expired before the paper arrived (it ends when the exam opens). Upload it again if the exam has not opened.";
  }
  return `The storage refused the paper${found ? ` (${found[1]})` : ""}. Upload it again.`;
}

// After the storage took the file, its check: the exam's last paper uploads, until this one is
// current or rejected.
async function paperOutcome(examId, paperId) {
  const deadline = Date.now() + PAPER_CONFIRM_MS;
  while (Date.now() < deadline) {
    const { data } = await call("GET", path("exams", examId));
    if (exam && exam.exam_id === examId) {
      exam = { ...exam, paper: data.paper, paper_uploads: data.paper_uploads };
      showPaper();
    }
    const upload = (data.paper_uploads || []).find((u) => u.paper_id === paperId);
    if (upload && upload.status !== "pending") return upload;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return null;
}

async function uploadPaper(event) {
  event.preventDefault();
  const form = $("paper-form");
  await attempt(async () => {
    const file = droppedPaper || $("paper-file").files[0];
    if (!file) throw new Mistake("Choose or drop the question paper (a PDF) first.");
    if (file.size > MAX_PAPER_BYTES) {
      throw new Mistake(`${file.name} is ${size(file.size)}: a question paper may be at most 20 MiB.`);
    }
    if (file.size === 0) throw new Mistake(`${file.name} is empty.`);
    const examId = exam.exam_id;
    say(`Preparing ${file.name}…`);
    // With the file's SHA-256 in the form, the storage refuses any other bytes.
    const sha256 = await sha256Hex(file);
    const { data: paperForm } = await call("POST", path("exams", examId, "paper"), { json: { filename: file.name, sha256 } });
    $("paper-progress").value = 0;
    $("paper-progress-box").hidden = false;
    say(`Sending ${file.name}…`);
    let sent;
    try {
      sent = await postPaper(paperForm, file);
    } finally {
      $("paper-progress-box").hidden = true;
    }
    if (sent.network) throw new Mistake("The network failed while the paper was sent. Upload it again.");
    if (sent.status < 200 || sent.status > 299) throw new Mistake(storageRefusal(sent.text));
    say(`Sent. Checking ${file.name}…`);
    const outcome = await paperOutcome(examId, paperForm.paper_id);
    if (!outcome) throw new Mistake(`${file.name} is not confirmed: upload again.`);
    if (outcome.status === "rejected") {
      throw new Mistake(`${file.name} was not kept: ${PAPER_REJECTED[outcome.rejection_reason] || "it was refused"}. Upload another file.`);
    }
    if (outcome.status === "superseded") throw new Mistake(`${file.name} was replaced by a paper uploaded after it.`);
    form.reset();
    droppedPaper = null;
    $("paper-drop-name").textContent = "";
    say(`The question paper is ${file.name}.`);
  }, { near: form, busy: busyButton(form) });
}

function dropPaper(event) {
  event.preventDefault();
  $("paper-drop").classList.remove("over");
  const file = event.dataTransfer.files[0];
  if (!file) return;
  droppedPaper = file;
  $("paper-file").value = "";
  $("paper-drop-name").textContent = `Ready: ${file.name}`;
}

// --- one student ------------------------------------------------------------------------------

// A request about one student. A 404 says they are no longer on the roster (removed meanwhile,
// perhaps from another tab): their view closes, the roster is drawn again without them, that is
// said, and the answer is null.
async function aboutStudent(nickname, method, route, options) {
  try {
    return await call(method, route, options);
  } catch (err) {
    if (!(err instanceof Refused && err.status === 404)) throw err;
    closeStudent();
    await loadRoster(currentPage, "heading");
    fail(`${nickname} is no longer on this exam's roster: removed, perhaps from another tab.`);
    return null;
  }
}

async function openStudent(nickname, opener) {
  const answer = await aboutStudent(nickname, "GET", path("exams", exam.exam_id, "students", nickname));
  if (!answer) return;
  const { data } = answer;
  studentOpener = opener;
  $("new-code-confirm").hidden = true;
  $("remove-confirm").hidden = true;
  showStudent(data);
  if (!dialogOpen()) $("student-view").showModal();
  $("student-status").textContent = "";
  $("student-heading").focus();
}

function closeStudent() {
  if (dialogOpen()) $("student-view").close();
}

// The dialog closed (Close, Escape or a removal): the keyboard goes back where it was.
function studentClosed() {
  if ($("student-view").contains($("error"))) clearError();
  for (const url of receiptLinks) URL.revokeObjectURL(url);
  receiptLinks = [];
  studentShown = null;
  const back = studentOpener && studentOpener.isConnected ? studentOpener : $("students-title");
  studentOpener = null;
  back.focus();
}

function fullName(s) { return s.first_name === null ? handle(s) : `${s.first_name} ${s.last_name}`; }

function showStudent(s) {
  studentShown = s;
  for (const url of receiptLinks) URL.revokeObjectURL(url);
  receiptLinks = [];
  $("student-heading").textContent = fullName(s);
  $("student-who").replaceChildren(el("span", { className: "mono" }, handle(s)), s.nickname === null ? "" : ` · ${s.email || "no email"}`,
    exam.anonymous && s.nickname && s.pseudonym ? ` · ${s.pseudonym} in receipts and exports` : "");
  const late = s.cutoff_at > s.due_at ? `, late uploads until ${when(s.cutoff_at)}` : ", no late uploads";
  $("student-window").textContent = `${s.extension ? "With an extension: due" : "Due"} ${when(s.due_at)}${late}. ` +
    `${s.attempts_used} of ${plural(s.max_attempts, "upload")} used.`;
  showStudentTiming(s);
  $("student-code").textContent = s.upload_code;
  $("student-code-box").hidden = !s.upload_code;
  $("student-current").replaceChildren();
  $("student-uploads").replaceChildren();
  $("remove-student").textContent = `Remove ${handle(s)} from the exam…`;
  $("remove-yes").textContent = `Remove ${handle(s)} for good`;
  $("remove-no").textContent = `Keep ${handle(s)}`;
  extras((p) => p.student(s)); // its files, its emails
}

// How a timed student's window was made: their start, the time limit with their extra time, and
// which due time came first.
function showStudentTiming(s) {
  const minutes = exam.duration_minutes;
  const extra = extraTime(s);
  const box = $("student-timing");
  box.hidden = !minutes && !extra;
  if (!minutes) {
    box.textContent = `Extra time ${extra}: it counts once the exam has a time limit.`;
    return;
  }
  const allowed = s.time_allowed_seconds ?? minutes * 60;
  const made = extra ? `${timeSpan(minutes * 60)} ${extra.replaceAll("+", "+ ")} = ${timeSpan(allowed)}` : timeSpan(allowed);
  if (!s.started_at) {
    box.textContent = `Not started · ${made} from their start, within the window.`;
    return;
  }
  const capped = new Date(s.started_at).getTime() + allowed * 1000 > new Date(s.due_at).getTime() + 999;
  const first = s.extension ? "their extension's due time comes first" : "the exam's due time comes first";
  box.textContent = `Started ${when(s.started_at)} · ${made} → due ${when(s.due_at)}${capped ? ` (${first})` : ""}`;
}

function askNewCode() {
  clearError();
  const s = studentShown;
  $("new-code-what").textContent = `A new upload code for ${fullName(s)} (${s.nickname}): the code ${s.upload_code} ` +
    `stops working at once, for anyone who has it. Give ${s.nickname} the new one. An upload already under way still counts.`;
  $("new-code-confirm").hidden = false;
  $("new-code-no").focus();
}

async function newCode() {
  await attempt(async () => {
    const { nickname } = studentShown;
    const answer = await aboutStudent(nickname, "POST", path("exams", exam.exam_id, "students", nickname, "upload_code"));
    if (!answer) return;
    const { data } = answer;
    studentShown = { ...studentShown, upload_code: data.upload_code };
    $("student-code").textContent = data.upload_code;
    $("new-code-confirm").hidden = true;
    $("new-code").focus();
    say(`${nickname} has a new upload code; the old one no longer works.`);
  }, { near: $("new-code-confirm"), busy: $("new-code-yes") });
}

// The confirmation names the student and what goes with them, as they are now.
async function askRemove() {
  await attempt(async () => {
    const { nickname } = studentShown;
    const answer = await aboutStudent(nickname, "GET", path("exams", exam.exam_id, "students", nickname));
    if (!answer) return;
    const { data } = answer;
    showStudent(data);
    const files = data.submissions.length;
    $("remove-what").textContent = `Removing ${fullName(data)} (${data.nickname}) deletes their upload code` +
      (files ? ` and every file they handed in (${plural(files, "upload")}); reviewers' verification codes for them stop working.`
        : "; they have handed in nothing.") + " This cannot be undone.";
    $("remove-confirm").hidden = false;
    $("remove-no").focus();
  }, { near: $("remove-box"), busy: $("remove-student") });
}

async function removeStudent() {
  await attempt(async () => {
    const s = studentShown;
    if (!(await aboutStudent(s.nickname, "DELETE", path("exams", exam.exam_id, "students", s.nickname)))) return;
    closeStudent();
    await loadRoster(currentPage, "heading");
    say(`Removed ${fullName(s)} (${s.nickname}) from the exam.`);
  }, { near: $("remove-box"), busy: $("remove-yes") });
}

async function copyCode(event) {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const code = $(button.dataset.copy);
  try {
    await navigator.clipboard.writeText(code.textContent);
    say("The upload code is copied.");
  } catch {
    window.getSelection().selectAllChildren(code);
    say("The code is selected: copy it with your keyboard or menu.");
  }
}

// --- collecting ------------------------------------------------------------------------------

function showExport(data) {
  const files = data.files_total === null ? `${data.files_done} files` : `${data.files_done} of ${data.files_total} files`;
  $("export-progress").textContent = {
    queued: "Waiting to start…",
    running: `Preparing: ${files}, ${size(data.bytes)}.`,
    done: `Ready: ${files}, ${size(data.bytes)}. The ZIP is kept until ${data.expires_at ? when(data.expires_at) : "tomorrow"}.`,
    failed: `The export failed: ${data.error || "unknown reason"}. Prepare it again.`,
  }[data.status];
  const downloadWasHidden = $("export-download").hidden;
  $("export-download").hidden = data.status !== "done";
  // One primary action: the download once there is one.
  $("start-export").className = data.status === "done" ? "secondary" : "primary";
  $("start-export").disabled = data.status === "queued" || data.status === "running";
  if (data.status === "done" && downloadWasHidden && document.activeElement === $("export-progress")) {
    $("export-download").focus();
  }
}

async function exportStatus(examId) {
  return (await call("GET", path("exams", examId, "exports", exportsByExam.get(examId)))).data;
}

// Progress until done or failed; a missed answer is retried, more slowly each time.
function watchExport(delay, misses = 0) {
  clearTimeout(exportTimer);
  const examId = exam.exam_id;
  exportTimer = setTimeout(async () => {
    if (!exam || exam.exam_id !== examId) return;
    try {
      const data = await exportStatus(examId);
      if (!exam || exam.exam_id !== examId) return; // left for another exam or the list meanwhile
      showExport(data);
      if (data.status === "queued" || data.status === "running") watchExport(EXPORT_EVERY_MS);
      else say(data.status === "done" ? "The ZIP is ready to download." : "The export failed.");
    } catch (err) {
      if (err instanceof Refused && err.status === 410) { expired(); return; }
      if (err instanceof Refused && err.problem.signedOut) return;
      $("start-export").disabled = false;
      $("export-progress").textContent = "Lost contact with the service while the ZIP is prepared; trying again…";
      watchExport(Math.min(EXPORT_EVERY_MS * 2 ** (misses + 1), EXPORT_BACKOFF_MAX_MS), misses + 1);
    }
  }, delay);
}

function expired() {
  $("export-download").hidden = true;
  $("start-export").disabled = false;
  $("export-progress").textContent = "This ZIP has expired and was deleted. Prepare a new one.";
  say("");
}

async function startExport() {
  await attempt(async () => {
    const { data } = await call("POST", path("exams", exam.exam_id, "exports"));
    exportsByExam.set(exam.exam_id, data.export_id);
    $("export-progress").focus(); // the button is about to be disabled under the keyboard
    showExport({ status: data.status, files_done: 0, files_total: null, bytes: 0 });
    say("Preparing the ZIP…");
    watchExport(EXPORT_EVERY_MS);
  }, { near: $("start-export"), busy: $("start-export") });
}

// The link in an answer lives minutes: ask for a fresh one at the moment of the download.
async function downloadExport() {
  await attempt(async () => {
    try {
      const data = await exportStatus(exam.exam_id);
      showExport(data);
      // A link of the same scheme as this page (the bucket's), never a script URL.
      if (data.status === "done" && new URL(data.url).protocol === window.location.protocol) {
        window.location.assign(data.url);
        collected.set(exam.exam_id, data.created_at);
        showRetention();
      }
    } catch (err) {
      if (err instanceof Refused && err.status === 410) expired(); else throw err;
    }
  }, { near: $("start-export"), busy: $("export-download") });
}

// --- changing and deleting -------------------------------------------------------------------

async function editExam(event) {
  event.preventDefault();
  const form = $("edit-exam");
  await attempt(async () => {
    if (!$("edit-title").value.trim()) throw new Mistake("The title must not be empty.");
    // Only what was changed is sent: an untouched time keeps its exact instant (seconds included).
    const json = {};
    if ($("edit-title").value !== editShown.title) json.title = $("edit-title").value;
    for (const [id, name] of [["edit-opens", "opens_at"], ["edit-due", "due_at"], ["edit-cutoff", "cutoff_at"]]) {
      if ($(id).value !== editShown[id]) json[name] = instantFrom($(id));
    }
    if ($("edit-attempts").value !== editShown["edit-attempts"]) json.max_attempts = Number($("edit-attempts").value);
    if ($("edit-zone").value !== editShown["edit-zone"]) json.timezone = $("edit-zone").value;
    if ($("edit-anonymous").checked !== editShown["edit-anonymous"]) json.anonymous = $("edit-anonymous").checked;
    const duration = durationFrom($("edit-hours"), $("edit-minutes"));
    if (duration !== editShown.duration) json.duration_minutes = duration; // null: no time limit any more
    Object.assign(json, await extraFields(form, exam));
    if (!Object.keys(json).length) { say("Nothing was changed."); return; }
    const { data } = await call("PATCH", path("exams", exam.exam_id), { json });
    fillEditForm(data);
    showExam(data);
    watchSummary();
    say("The exam is changed.");
  }, { near: form, busy: busyButton(form) });
}

function askClose() {
  clearError();
  $("close-what").textContent = `Closing “${exam.title}”: every student's window ends now, extensions included. ` +
    "No upload can start any more, and forms already issued stop counting: a file that reaches the storage after now " +
    "is refused, even if its upload started before. Files handed in are kept, to collect as before.";
  $("close-confirm").hidden = false;
  $("close-no").focus();
}

async function closeExam() {
  await attempt(async () => {
    const { data } = await call("POST", path("exams", exam.exam_id, "close"));
    $("close-confirm").hidden = true;
    $("close-exam").focus();
    latestCutoff = null; // every window ended, extensions' too
    fillEditForm(data);
    showExam(data);
    await loadRoster(currentPage);
    watchSummary();
    say(`“${data.title}” is closed: every student's window ended ${when(data.cutoff_at)}.`);
  }, { near: $("close-box"), busy: $("close-yes") });
}

async function askDelete() {
  await attempt(async () => {
    const { data } = await call("GET", path("exams", exam.exam_id)); // the counts of now
    const c = data.counts;
    $("delete-what").textContent = `Deleting “${data.title}” (${data.exam_id}) deletes ${plural(c.students, "student")} ` +
      `with their upload codes, and the files of the ${plural(c.handed_in, "student")} who handed in. ` +
      "Reviewers' verification codes stop working. This cannot be undone.";
    $("delete-confirm").hidden = false;
    $("delete-no").focus();
  }, { near: $("delete-box"), busy: $("delete-exam") });
}

async function deleteExam() {
  await attempt(async () => {
    const { title, exam_id: examId } = exam;
    await call("DELETE", path("exams", examId));
    exportsByExam.delete(examId);
    await showExams();
    say(`Deleted “${title}”.`);
  }, { near: $("delete-box"), busy: $("delete-yes") });
}

// --- the team: members, joining by invitation, the audit log ---------------------------------

// Parts loaded when first needed, so that the console's first load stays light: team.js when one of
// its parts is opened, files.js (accepted types, malware checks, release) and mail.js (codes by
// email, addresses, the emails' states) once signed in, lti.js (courses in an LMS) with them or when a
// teacher lands from their course.
const parts = {};
function load(name) {
  return parts[name] ||= new Promise((resolve, reject) => document.body.append(el("script", {
    src: `${api}static/${name}.js`, onload: resolve,
    onerror: () => { parts[name] = null; reject(new Refused(0, { detail: "The network failed. Check your connection, then try again." })); },
  })));
}
// files.js's and mail.js's share of drawing an exam, a student or a file, and of the exam's forms.
const extras = (draw) => Promise.all([load("files"), load("mail"), load("lti")]).then(() => [fileParts, mailParts, ltiParts].forEach(draw), () => {});
const extraFields = async (form, shown) => (await Promise.all([load("files"), load("mail")]), { ...fileParts.fields(form, shown), ...mailParts.fields(form, shown) });
function teamButton(id, part) {
  $(id).addEventListener("click", () => attempt(async () => {
    await load("team");
    await teamParts[part]($(id));
  }, { busy: $(id) }));
}
function closeTeam() {
  $("team-home").replaceChildren();
  $("open-members").ariaExpanded = $("open-audit").ariaExpanded = "false";
}

// --- start -----------------------------------------------------------------------------------

function fillZones() {
  const zones = Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [];
  const all = Array.from(new Set([ownZone, "UTC", ...zones])).sort();
  for (const select of [$("exam-zone"), $("edit-zone")]) {
    select.replaceChildren(...all.map((zone) => el("option", { value: zone }, zone)));
  }
  $("exam-zone").value = ownZone;
  for (const node of document.querySelectorAll(".own-zone")) node.textContent = `your time zone (${ownZone})`;
  for (const node of document.querySelectorAll(".zone-name")) node.textContent = ownZone;
}

function start() {
  // A session from the LMS leaves the address bar and the history at once, before lti.js loads.
  const hash = location.hash;
  if (/session=/.test(hash)) history.replaceState(null, "", location.pathname + location.search);
  if (/session=/.test(hash) || sessionStorage["lti-session"]) return attempt(() => load("lti").then(() => ltiParts.land(hash)));
  const notice = JSON.parse(sessionStorage.getItem(NOTICE) || "null");
  sessionStorage.removeItem(NOTICE);
  if (!sessionStorage.getItem(KEY)) {
    show("sign-in");
    if (notice && notice.alert) { fail(notice.alert, { near: $("sign-in") }); $("key").focus(); }
    if (notice && notice.status) say(notice.status);
    return;
  }
  show("sign-in");
  attempt(() => showExams());
}

fillZones();
$("sign-in").addEventListener("submit", signIn);
$("sign-out").addEventListener("click", () => signOut());
$("more-exams").addEventListener("click", () => attempt(() => showExams(true), { busy: $("more-exams") }));
$("create-exam").addEventListener("submit", createExam);
$("exam-title").addEventListener("input", () => {
  if (!$("exam-id").dataset.typed) $("exam-id").value = slug($("exam-title").value);
});
$("exam-id").addEventListener("input", () => { $("exam-id").dataset.typed = "yes"; });
$("exam-due").addEventListener("change", () => { if (!$("exam-cutoff").value) $("exam-cutoff").value = $("exam-due").value; });
$("back").addEventListener("click", () => attempt(() => showExams(), { busy: $("back") }));
$("filter").addEventListener("change", search);
$("search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(search, SEARCH_WAIT_MS); });
$("search-form").addEventListener("submit", (event) => { event.preventDefault(); search(); });
$("refresh-roster").addEventListener("click", () => attempt(() => loadRoster(currentPage, "heading"), { busy: $("refresh-roster") }));
$("download-roster").addEventListener("click", downloadRoster);
$("add-student").addEventListener("submit", addStudent);
$("import-form").addEventListener("submit", importRoster);
$("roster-file").addEventListener("change", () => { droppedFile = null; $("drop-name").textContent = ""; });
$("drop-zone").addEventListener("dragover", (event) => { event.preventDefault(); $("drop-zone").classList.add("over"); });
$("drop-zone").addEventListener("dragleave", () => $("drop-zone").classList.remove("over"));
$("drop-zone").addEventListener("drop", dropRoster);
$("extensions-import-form").addEventListener("submit", importExtensions);
$("accommodations-import-form").addEventListener("submit", importAccommodations);
$("accommodation-form").addEventListener("submit", saveAccommodation);
$("accommodation-form").addEventListener("keydown", (event) => { if (event.key === "Escape") closeAccommodation(); });
$("accommodation-cancel").addEventListener("click", closeAccommodation);
$("paper-form").addEventListener("submit", uploadPaper);
$("paper-file").addEventListener("change", () => { droppedPaper = null; $("paper-drop-name").textContent = ""; });
$("paper-drop").addEventListener("dragover", (event) => { event.preventDefault(); $("paper-drop").classList.add("over"); });
$("paper-drop").addEventListener("dragleave", () => $("paper-drop").classList.remove("over"));
$("paper-drop").addEventListener("drop", dropPaper);
$("extension-form").addEventListener("submit", giveExtension);
$("extension-form").addEventListener("keydown", (event) => { if (event.key === "Escape") closeExtension(); });
$("extension-cancel").addEventListener("click", closeExtension);
$("student-close").addEventListener("click", closeStudent);
$("student-view").addEventListener("close", studentClosed);
$("new-code").addEventListener("click", askNewCode);
$("new-code-no").addEventListener("click", () => { $("new-code-confirm").hidden = true; $("new-code").focus(); });
$("new-code-yes").addEventListener("click", newCode);
$("remove-student").addEventListener("click", askRemove);
$("remove-no").addEventListener("click", () => { $("remove-confirm").hidden = true; $("remove-student").focus(); });
$("remove-yes").addEventListener("click", removeStudent);
document.addEventListener("click", copyCode);
$("start-export").addEventListener("click", startExport);
$("export-download").addEventListener("click", downloadExport);
$("edit-exam").addEventListener("submit", editExam);
$("edit-exam").addEventListener("input", () => { $("edit-exam").dataset.changed = "yes"; });
$("close-exam").addEventListener("click", askClose);
$("close-no").addEventListener("click", () => { $("close-confirm").hidden = true; $("close-exam").focus(); });
$("close-yes").addEventListener("click", closeExam);
$("delete-exam").addEventListener("click", askDelete);
$("delete-no").addEventListener("click", () => { $("delete-confirm").hidden = true; $("delete-exam").focus(); });
$("delete-yes").addEventListener("click", deleteExam);
teamButton("join-exam", "join");
teamButton("open-members", "members");
teamButton("open-audit", "audit");
start();
