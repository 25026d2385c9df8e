// The console's part for what reaches a reviewer: the types of file an exam accepts and its PDF
// checks (in the exam's forms), each file's malware check (a banner on the exam, a badge on each
// file) and the owner's release of a file that could not be checked. examiner.js loads this file
// once the examiner is signed in (the console's first load stays light) and calls it where exams
// and files are drawn; it works with examiner.js's own helpers (call, attempt, el, badge, exam,
// may, …): the two are served together, and a page keeps the pair it loaded.
// Everything from the API is shown with textContent: file names and threat names are other people's.
"use strict";
const fileParts = (() => {
  // Its words, by key: the English of the catalogues (i18n/en.json); the console reads English.
  const WORDS = {
    "files.accepts": "Accepted types of file",
    "files.accepts-hint": "None chosen: any type. A file is judged by its content, not its name: a student who uploads another type is told what it is and keeps the upload.",
    "files.kind.pdf": "PDF",
    "files.kind.word": "Word document (.docx)",
    "files.kind.odt": "OpenDocument text (.odt)",
    "files.kind.image": "Image (JPEG, PNG, HEIC, WebP)",
    "files.kind.text": "Plain text (.txt, .md)",
    "files.kind.zip": "ZIP archive",
    "files.check-pdfs": "Check PDFs: refuse damaged or password-protected ones; a PDF without text is marked “scanned PDF”",
    "files.scan.scanning": "scanning",
    "files.scan.clean": "clean",
    "files.scan.threat": "threat",
    "files.scan.unsupported": "could not be scanned",
    "files.scan.failed": "could not be scanned",
    "files.scan.released": "released",
    "files.scanned-pdf": "scanned PDF",
    "files.scan-of": "Malware check: {state}",
    "files.threat-note": "Malware found ({detail}). The file is quarantined: no one can download it, and exports leave it out. The student is told to upload a clean copy.",
    "files.unchecked-note": "This file could not be scanned for malware ({detail}). No one can download it until an owner releases it.",
    "files.scanning-note": "Being checked for malware: it can be downloaded once it is found clean.",
    "files.released-note": "Released without a malware check on {time}.",
    "files.scanned-pdf-note": "No text on any page: this PDF may be a scan (pictures of pages).",
    "files.banner.threat.one": "Malware found in 1 file: it is quarantined and no one can download it.",
    "files.banner.threat.other": "Malware found in {count} files: they are quarantined and no one can download them.",
    "files.banner.unchecked.one": "1 file could not be scanned for malware: an owner can release it from the student's view.",
    "files.banner.unchecked.other": "{count} files could not be scanned for malware: an owner can release them from the students' views.",
    "files.banner.scanning.one": "1 file is being checked for malware.",
    "files.banner.scanning.other": "{count} files are being checked for malware.",
    "files.release": "Release…",
    "files.release-what": "Release {file} without a malware check? It could not be scanned ({detail}). Reviewers and exports will then get it as it is. Your reason is kept in the audit log.",
    "files.release-reason": "Why you release it",
    "files.release-yes": "Release the file",
    "files.release-no": "Keep it held back",
    "files.release-missing": "Say why you release it.",
    "files.released": "{file} is released: reviewers can download it now.",
  };
  const KINDS = ["pdf", "word", "odt", "image", "text", "zip"];
  const KIND_WORDS = {
    pdf: "files.kind.pdf", word: "files.kind.word", odt: "files.kind.odt", image: "files.kind.image",
    text: "files.kind.text", zip: "files.kind.zip",
  };
  const SCAN_WORDS = {
    scanning: "files.scan.scanning", clean: "files.scan.clean", threat: "files.scan.threat",
    unsupported: "files.scan.unsupported", failed: "files.scan.failed",
  };
  // The badges' colours, as the console's other badges use them.
  const SCAN_LOOK = { scanning: "none", clean: "current", threat: "threat", unsupported: "late", failed: "late" };
  const UNCHECKED = ["unsupported", "failed"];

  function t(key, params = {}) {
    return WORDS[key].replace(/\{(\w+)\}/g, (placeholder, name) => (name in params ? String(params[name]) : placeholder));
  }
  function counted(key, count) { return t(count === 1 ? `${key}.one` : `${key}.other`, { count }); }

  // --- the exam's forms: accepted types and the PDF checks ------------------------------------

  // `prefix`: "exam" in the create form, "edit" in the change form (ids as the forms' own).
  function fieldset(prefix) {
    const box = (id, text) => el("div", { className: "check" },
      el("input", { id, type: "checkbox" }), el("label", { htmlFor: id }, text));
    return el("fieldset", { id: `${prefix}-types` },
      el("legend", {}, t("files.accepts")),
      el("p", { className: "hint" }, t("files.accepts-hint")),
      ...KINDS.map((kind) => box(`${prefix}-kind-${kind}`, t(KIND_WORDS[kind]))),
      box(`${prefix}-check-pdfs`, t("files.check-pdfs")));
  }
  // Into both forms, before their buttons, once.
  function forms() {
    for (const [form, prefix] of [["create-exam", "exam"], ["edit-exam", "edit"]]) {
      if (!$(`${prefix}-types`)) $(form).insertBefore(fieldset(prefix), busyButton($(form)));
    }
  }
  function chosen(prefix) {
    return {
      accepted_types: KINDS.filter((kind) => $(`${prefix}-kind-${kind}`).checked),
      check_pdfs: $(`${prefix}-check-pdfs`).checked,
    };
  }
  // What the create form adds to a new exam (nothing for the defaults: any type, no PDF checks),
  // or, with `shown`, what the change form changes.
  function fields(form, shown) {
    forms();
    const prefix = form.id === "create-exam" ? "exam" : "edit";
    const now = chosen(prefix);
    const before = shown ? { accepted_types: shown.accepted_types || [], check_pdfs: Boolean(shown.check_pdfs) } : {
      accepted_types: [], check_pdfs: false,
    };
    const json = {};
    if (now.accepted_types.join() !== [...before.accepted_types].sort(byKind).join()) json.accepted_types = now.accepted_types;
    if (now.check_pdfs !== before.check_pdfs) json.check_pdfs = now.check_pdfs;
    return json;
  }
  const byKind = (a, b) => KINDS.indexOf(a) - KINDS.indexOf(b);
  // The change form as the exam stands.
  function fill(data) {
    forms();
    for (const kind of KINDS) $(`edit-kind-${kind}`).checked = (data.accepted_types || []).includes(kind);
    $("edit-check-pdfs").checked = Boolean(data.check_pdfs);
  }

  // --- the exam's page: what waits, what was found --------------------------------------------

  function banner(data) {
    let box = $("scan-banner");
    if (!box) {
      box = el("div", { id: "scan-banner", className: "warning", hidden: true });
      $("export-due").after(box);
    }
    const counts = data.scan_counts || {};
    const unchecked = (counts.unsupported || 0) + (counts.failed || 0);
    const lines = [];
    if (counts.threat) lines.push(el("p", { className: "strong" }, counted("files.banner.threat", counts.threat)));
    if (unchecked) lines.push(el("p", {}, counted("files.banner.unchecked", unchecked)));
    if (counts.scanning) lines.push(el("p", {}, counted("files.banner.scanning", counts.scanning)));
    // Only what changed is written: the page is redrawn every few seconds.
    const text = lines.map((line) => line.textContent).join("\n");
    if (box.dataset.said === text) return;
    box.dataset.said = text;
    box.replaceChildren(...lines);
    box.hidden = lines.length === 0;
  }

  function scanBadge(submission) {
    const state = submission.scan_released_at ? t("files.scan.released") : t(SCAN_WORDS[submission.scan]);
    return badge(state, `scan ${submission.scan_released_at ? "released" : SCAN_LOOK[submission.scan]}`);
  }
  // A roster row's handed-in cell: the current file's check, unless it is clean (or not checked).
  function row(student, tr) {
    const current = student.current;
    if (!current || !current.scan || current.scan === "clean") return;
    tr.querySelector(".submitted").append(" ", spoken(t("files.scan-of", { state: "" })), scanBadge(current));
  }
  // Badges beside a file's name (its check, "scanned PDF"), and what they mean under it.
  function badges(submission) {
    const found = [];
    if (submission.scan) found.push(" ", spoken(t("files.scan-of", { state: "" })), scanBadge(submission));
    if ((submission.warnings || []).includes("scanned_pdf")) found.push(" ", badge(t("files.scanned-pdf"), "late"));
    return found;
  }
  function notes(submission) {
    const said = [];
    const detail = submission.scan_detail || "—";
    if (submission.scan_released_at) said.push(t("files.released-note", { time: when(submission.scan_released_at) }));
    else if (submission.scan === "threat") said.push(t("files.threat-note", { detail }));
    else if (UNCHECKED.includes(submission.scan)) said.push(t("files.unchecked-note", { detail }));
    else if (submission.scan === "scanning") said.push(t("files.scanning-note"));
    if ((submission.warnings || []).includes("scanned_pdf")) said.push(t("files.scanned-pdf-note"));
    return said.map((note) => el("p", { className: submission.scan === "threat" ? "error" : "hint" }, note));
  }

  // What became of an upload, in words.
  const FILE_STATES = { current: "current", superseded: "replaced", expired: "deleted" };

  // A receipt to keep, as a file (a compact JWS: any JOSE tool reads it).
  function receiptLink(submission) {
    if (!submission.receipt) return "";
    const url = URL.createObjectURL(new Blob([submission.receipt + "\n"], { type: "application/jwt" }));
    receiptLinks.push(url);
    return el("a", { className: "button secondary", href: url, download: `receipt-${submission.verification_code}.jwt` },
      "Download the receipt", spoken(` of ${submission.verification_code}`));
  }

  function currentFile(s) {
    const current = s.current;
    if (!current) return [el("p", { className: "hint" }, "Nothing handed in yet.")];
    const download = el("button", { type: "button", className: "primary" }, "Download the answer");
    download.addEventListener("click", () => attempt(() => downloadAnswer(current), { near: download, busy: download }));
    const code = current.verification_code;
    const release = UNCHECKED.includes(current.scan) && !current.scan_released_at && may("submission.release");
    return [
      el("p", {}, el("span", { className: "strong wrap" }, current.filename),
        `, ${size(current.size_bytes)}, handed in ${when(current.submitted_at)} `, lateBadge(current.late), ...badges(current)),
      ...notes(current),
      el("p", { className: "hint" }, `Kept until ${when(current.expires_at)}`,
        ...(code ? ["; verification code ", el("span", { className: "mono" }, code)] : []), "."),
      // A file its malware check holds back is not offered (the line above says why).
      code ? el("div", { className: "row" }, current.downloadable === false ? "" : download, receiptLink(current)) : "",
      ...(release ? releaseParts(s) : []),
    ];
  }

  function uploadItem(submission) {
    const pair = (term, ...value) => el("div", {}, el("dt", {}, term), el("dd", {}, ...value));
    const kept = {
      current: pair("Kept until", when(submission.expires_at)),
      expired: pair("Deleted", when(submission.expires_at)),
      superseded: "", // its file was replaced by the next upload
    }[submission.status];
    return el("li", { className: "upload" },
      el("p", { className: "upload-title" }, el("span", { className: "strong wrap" }, submission.filename), " ",
        badge(FILE_STATES[submission.status], submission.status), " ", lateBadge(submission.late), ...badges(submission)),
      el("dl", {},
        pair("Handed in", when(submission.submitted_at)),
        pair("Size", `${size(submission.size_bytes)} (${submission.size_bytes.toLocaleString()} bytes)`),
        kept,
        submission.verification_code ? pair("Verification code", el("span", { className: "mono" }, submission.verification_code)) : "",
        pair("SHA-256", el("span", { className: "mono wrap" }, submission.sha256))),
      receiptLink(submission));
  }

  // The file as a reviewer downloads it: a link of minutes, asked for at the moment of the click
  // (refused while its malware check holds it back: the API's words say why).
  async function downloadAnswer(current) {
    const route = path("verifications", current.verification_code, "download_url");
    const answer = await aboutStudent(studentShown.nickname, "GET", route, { anyone: true });
    if (!answer) return;
    const { data } = answer;
    // A link of the same scheme as this page (the bucket's), never a script URL.
    if (new URL(data.url).protocol !== window.location.protocol) throw new Mistake("The download link is not one this page opens.");
    window.location.assign(data.url);
    say(`Downloading ${current.filename}.`);
  }

  // One student's view: the current file (with Release… for an owner) and every upload, newest first.
  function student(s) {
    if (studentShown !== s) return; // drawn again meanwhile
    $("student-current").replaceChildren(...currentFile(s));
    const newest = [...s.submissions].sort((a, b) => new Date(b.submitted_at) - new Date(a.submitted_at));
    $("student-uploads").replaceChildren(...newest.map(uploadItem));
    if (!newest.length) $("student-uploads").append(el("li", { className: "hint" }, "No upload yet."));
  }

  // --- the owner's release of a file that could not be scanned --------------------------------

  function releaseParts(s) {
    const current = s.current;
    const open = el("button", { type: "button", className: "danger-quiet" }, t("files.release"));
    const reason = el("textarea", { id: "release-reason", maxLength: 500, required: true });
    const yes = el("button", { type: "button", className: "destructive" }, t("files.release-yes"));
    const no = el("button", { type: "button", className: "secondary" }, t("files.release-no"));
    const what = el("p", { id: "release-what", className: "strong" },
      t("files.release-what", { file: current.filename, detail: current.scan_detail || "—" }));
    const confirmBox = el("div", { className: "confirm", hidden: true },
      what, el("label", { htmlFor: "release-reason" }, t("files.release-reason")), reason, el("div", { className: "row" }, yes, no));
    reason.setAttribute("aria-describedby", "release-what");
    open.addEventListener("click", () => { clearError(); confirmBox.hidden = false; reason.focus(); });
    no.addEventListener("click", () => { confirmBox.hidden = true; open.focus(); });
    // Escape leaves the question, not the student's view.
    confirmBox.addEventListener("keydown", (event) => {
      if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); no.click(); }
    });
    yes.addEventListener("click", () => attempt(async () => {
      if (!reason.value.trim()) { reason.focus(); throw new Mistake(t("files.release-missing")); }
      const route = path("exams", exam.exam_id, "submissions", current.upload_id, "release");
      if (!(await aboutStudent(handle(s), "POST", route, { json: { reason: reason.value.trim() } }))) return;
      const again = await aboutStudent(handle(s), "GET", path("exams", exam.exam_id, "students", handle(s)));
      if (!again) return;
      showStudent(again.data);
      $("student-heading").focus();
      say(t("files.released", { file: current.filename }));
    }, { near: confirmBox, busy: yes }));
    return [el("div", { className: "row" }, open), confirmBox];
  }

  return { forms, fields, fill, banner, row, student };
})();
