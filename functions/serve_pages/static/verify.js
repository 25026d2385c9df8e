// The reviewer's page: a verification code or a receipt -> what was handed in -> a short-lived
// download link. Both answers are shown alike, each next to the form that asked for it.
"use strict";
const api = document.body.dataset.api;
const $ = (id) => document.getElementById(id);
const { t } = i18n;

// Each form's own status (what is going on), alert (what went wrong) and result.
const FORMS = {
  code: { status: $("code-status"), error: $("code-error"), result: $("result") },
  receipt: { status: $("receipt-status"), error: $("receipt-error"), result: $("receipt-result") },
};
// What each form shows, kept so that the language switch shows it again in the new language: a
// message (i18n.js) for the status and the alert, the facts for the result.
const shown = { code: {}, receipt: {} };

const { message: words, problemMessage: problemText, show } = i18n;
function say(form, message) { shown[form].status = message; show(FORMS[form].status, message); }
function fail(form, message) {
  shown[form].error = message;
  show(FORMS[form].error, message);
  FORMS[form].error.hidden = false;
  say(form, null);
}
// A new question: the form's last answer goes.
function start(form) {
  shown[form] = {};
  FORMS[form].error.hidden = true;
  FORMS[form].result.hidden = true;
  $("announce").textContent = "";
  say(form, null);
}
const advice = (gaveUp) => () => serviceRetry.advice(gaveUp);
const WAITING = { code: serviceRetry.noticeIn(FORMS.code.status), receipt: serviceRetry.noticeIn(FORMS.receipt.status) };

// Every request of this page only reads (a receipt's check included): each may be sent again
// (retry.js) whatever became of the first.
async function send(form, path, init) {
  const sent = await serviceRetry.fetch(api + path, init, { repeatable: true, notice: WAITING[form] });
  if (sent.gaveUp) return { gaveUp: sent.gaveUp }; // a network failure too: it is repeatable
  return { status: sent.status, data: await sent.response.json().catch(() => ({})) };
}

// --- one presentation of a handed-in file ---------------------------------------------------

// The facts of a verification code's answer; a receipt's facts add what only it states.
function factsOf(v) {
  return {
    student: v.student, // no name on an anonymous exam's answer
    exam: v.exam.title,
    filename: v.filename,
    size: v.size_bytes,
    type: v.content_type,
    submittedAt: v.submitted_at,
    late: v.late,
    // In a timed exam, when the student started; the due time `late` was measured against (their
    // own in a timed exam). Files recorded before these were kept have neither.
    startedAt: v.started_at || null,
    dueAt: v.due_at || null,
    sha256: v.sha256,
    code: v.verification_code,
    status: v.status,
    // The malware check: null when the file was not checked (handed in before files were, or
    // checking is off); only a file that may be downloaded is offered.
    scan: v.scan ?? null,
    scanDetail: v.scan_detail || "",
    released: Boolean(v.scan_released_at),
    downloadable: v.downloadable ?? v.status === "current",
    warnings: v.warnings || [],
  };
}

const STATUS = { current: "verify.status.current", superseded: "verify.status.superseded", expired: "verify.status.expired" };
const NOT_DOWNLOADABLE = { superseded: "verify.not-downloadable.superseded", expired: "verify.not-downloadable.expired" };
const SCAN = {
  scanning: "scan.scanning", clean: "scan.clean", threat: "scan.threat", unsupported: "scan.unsupported", failed: "scan.failed",
};
const SCAN_LOOK = { scanning: "none", clean: "current", threat: "threat", unsupported: "late", failed: "late" };
// Why a current file is not offered: its malware check.
const HELD_BACK = {
  scanning: "verify.not-downloadable.scanning", threat: "verify.not-downloadable.threat",
  unsupported: "verify.not-downloadable.unchecked", failed: "verify.not-downloadable.unchecked",
};
function scanBadge(facts) {
  const said = badge(t(facts.released ? "scan.released" : SCAN[facts.scan]), SCAN_LOOK[facts.scan]);
  return facts.scanDetail ? [said, " ", element("span", facts.scanDetail, "hint wrap")] : [said];
}

function nameOf(facts) {
  const student = facts.student;
  if (!student && facts.nameUnknown) return facts.nickname;
  return student ? t("verify.student-name", { first: student.first_name, last: student.last_name }) : t("verify.anonymous");
}
function badge(text, kind) {
  const element = document.createElement("span");
  element.className = `badge ${kind}`;
  element.textContent = text;
  return element;
}
function element(tag, text, className) {
  const made = document.createElement(tag);
  if (text !== undefined) made.textContent = text;
  if (className) made.className = className;
  return made;
}

// Into `section`: who handed in what and when, what became of it, and its download.
function present(form, facts) {
  const section = FORMS[form].result;
  const title = element("h2", nameOf(facts));
  title.id = `${section.id}-title`;
  const parts = [title];
  if (facts.genuine) parts.push(element("p", t("verify.receipt.genuine", { issuer: facts.issuer }), "verdict genuine"));
  const list = element("dl", undefined, "facts");
  const row = (key, value, className) => {
    const term = element("dt", t(key));
    const detail = element("dd", undefined, className);
    detail.append(...(Array.isArray(value) ? value : [value]));
    list.append(term, detail);
  };
  row("facts.exam", facts.exam);
  if (facts.nickname) row("facts.nickname", facts.nickname);
  row("facts.status", badge(t(STATUS[facts.status]), facts.status));
  row("facts.file", facts.filename, "wrap");
  row("facts.size", i18n.size(facts.size));
  if (facts.type) row("facts.type", facts.type, "wrap");
  if (facts.startedAt) row("facts.started", i18n.date(facts.startedAt, { seconds: true }));
  if (facts.dueAt) row("facts.due", i18n.date(facts.dueAt, { seconds: true }));
  row("facts.handed-in", [
    i18n.date(facts.submittedAt, { seconds: true }), " ",
    facts.late ? badge(t("badge.late"), "late") : badge(t("badge.on-time"), "on-time"),
  ]);
  if (facts.scan) row("facts.scan", scanBadge(facts));
  row("facts.sha256", facts.sha256, "mono wrap");
  row("facts.verification-code", facts.code, "mono");
  if (facts.attempt) row("facts.attempt", t("verify.attempt", { attempt: facts.attempt, attempts: facts.attempts }));
  parts.push(list);
  if (facts.warnings.includes("scanned_pdf")) parts.push(element("p", t("verify.warning.scanned-pdf"), "warning"));
  if (facts.downloadable) {
    const download = element("button", t("verify.download"));
    download.type = "button";
    download.addEventListener("click", () => downloadFile(form, facts.code));
    parts.push(download);
  } else if (facts.status === "current") {
    const why = t(HELD_BACK[facts.scan] || "verify.download.failed", { detail: facts.scanDetail });
    parts.push(element("p", why, facts.scan === "threat" ? "error" : "hint"));
  } else {
    parts.push(element("p", t(NOT_DOWNLOADABLE[facts.status]), "hint"));
  }
  section.replaceChildren(...parts);
  section.hidden = false;
}

// A receipt that is not genuine: why, in the API's words (English).
function presentNotGenuine(form, reason) {
  const section = FORMS[form].result;
  const title = element("h2", t("verify.receipt.not-genuine"));
  title.id = `${section.id}-title`;
  const why = element("p", reason, "error");
  why.lang = "en";
  section.replaceChildren(title, why);
  section.hidden = false;
}

function announce(form) {
  const { facts, reason } = shown[form];
  if (reason) $("announce").textContent = t("verify.announce.not-genuine");
  else if (facts) {
    $("announce").textContent = t(facts.genuine ? "verify.announce.genuine" : "verify.announce.found", {
      file: facts.filename, student: nameOf(facts), status: t(STATUS[facts.status]),
    });
  }
}

function showAnswer(form) {
  const { facts, reason } = shown[form];
  if (facts) present(form, facts);
  else if (reason) presentNotGenuine(form, reason);
}

// --- the two questions ----------------------------------------------------------------------

async function check(event) {
  event.preventDefault();
  await i18n.ready;
  const typed = $("code").value.replace(/[\s-]/g, "").toUpperCase();
  start("code");
  if (typed.length !== 20) { fail("code", words("verify.code.wrong-length")); return; }
  say("code", words("verify.code.looking-up"));
  const result = await send("code", `verifications/${encodeURIComponent(typed)}`, {});
  if (result.gaveUp) { fail("code", advice(result.gaveUp)); return; }
  if (result.status === 404) { fail("code", words("verify.code.unknown")); return; }
  if (result.status !== 200) { fail("code", problemText(result.data)); return; }
  shown.code.facts = factsOf(result.data);
  say("code", null);
  showAnswer("code");
  announce("code");
}

async function downloadFile(form, verificationCode) {
  const result = await send(form, `verifications/${encodeURIComponent(verificationCode)}/download_url`, {});
  if (result.gaveUp) { fail(form, advice(result.gaveUp)); return; }
  if (result.status === 200) { window.location.assign(result.data.url); return; }
  if (result.status === 410) { fail(form, words("verify.download.gone")); return; }
  if (result.status === 409) { fail(form, problemText(result.data)); return; }
  fail(form, words("verify.download.failed"));
}

// A receipt: checked by the server against the deployment's published keys (GET
// .well-known/jwks.json has them, for checking offline). A genuine one is shown as a code's file
// is, from what the receipt states, with the name, the exam's title, the type and what became of
// the file from its verification code (an anonymous exam's answer has no name: the receipt's
// nickname is then its pseudonym).
async function checkReceipt(event) {
  event.preventDefault();
  await i18n.ready;
  start("receipt");
  const chosen = $("receipt-file").files[0];
  const text = chosen ? (await chosen.text()).trim() : $("receipt-text").value.trim();
  if (!text) { fail("receipt", words("verify.receipt.missing")); return; }
  say("receipt", words("verify.receipt.checking"));
  const result = await send("receipt", "receipts/verify", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ receipt: text }),
  });
  if (result.gaveUp) { fail("receipt", advice(result.gaveUp)); return; }
  if (result.status === 422) { fail("receipt", words("verify.receipt.not-a-receipt")); return; }
  if (result.status !== 200) { fail("receipt", problemText(result.data)); return; }
  const verdict = result.data;
  if (!verdict.genuine) {
    shown.receipt.reason = verdict.reason;
  } else {
    const claims = verdict.claims;
    const lookup = await send("receipt", `verifications/${encodeURIComponent(claims.verification_code)}`, {});
    // Without its lookup (a busy service given up on) the receipt's own words stand alone.
    const known = lookup.status === 200 ? factsOf(lookup.data) : {
      student: null, nameUnknown: true, exam: claims.exam, warnings: [], scanDetail: "", downloadable: verdict.status === "current",
    };
    shown.receipt.facts = {
      ...known,
      filename: claims.filename,
      size: claims.size,
      submittedAt: claims.submitted_at,
      late: claims.late,
      // The receipt's own words where it states them (receipts issued before it did do not).
      startedAt: "started_at" in claims ? claims.started_at : known.startedAt,
      dueAt: "due_at" in claims ? claims.due_at : known.dueAt,
      sha256: claims.sha256,
      code: claims.verification_code,
      status: verdict.status,
      scan: verdict.scan ?? known.scan ?? null,
      nickname: claims.nickname,
      attempt: claims.attempt,
      attempts: claims.attempts,
      issuer: claims.iss,
      genuine: true,
    };
  }
  say("receipt", null);
  showAnswer("receipt");
  announce("receipt");
}

// The language switch: everything shown is said again in the new language.
i18n.onChange(() => {
  for (const form of Object.keys(FORMS)) {
    show(FORMS[form].status, shown[form].status);
    show(FORMS[form].error, shown[form].error);
    showAnswer(form);
  }
});

$("verify-form").addEventListener("submit", check);
$("receipt-form").addEventListener("submit", checkReceipt);
