// The console's mail part: sending the students their upload codes by email (with the batch's
// progress), each student's address and what became of their emails (a column of the roster, the
// student's view: change the address, send the code again, the messages), and the exam's emails
// (receipts on or off, their language) in its forms. examiner.js loads this file with files.js
// once the examiner is signed in (the console's first load stays light) and calls it where exams,
// students and rows are drawn; it works with examiner.js's own helpers (call, attempt, el, badge,
// exam, may, …): the two are served together, and a page keeps the pair it loaded.
// Everything from the API is shown with textContent: addresses and SES's details are other people's.
"use strict";
const mailParts = (() => {
  // Its words, by key: the English of the catalogues (i18n/en.json); the console reads English.
  const WORDS = {
    "mail.settings": "Emails to the students",
    "mail.receipts": "Email a receipt to each student after an upload",
    "mail.language": "Language of the emails",
    "mail.column": "Name and email",
    "mail.no-address": "no address",
    "mail.shared": "shared address",
    "mail.shared-hint": "Another student of this exam has the same address: both get their emails there.",
    "mail.state.none": "not emailed",
    "mail.state.queued": "queued",
    "mail.state.sending": "sending",
    "mail.state.sent": "sent",
    "mail.state.delivered": "delivered",
    "mail.state.bounced": "bounced",
    "mail.state.complained": "complained",
    "mail.state.failed": "failed",
    "mail.state.skipped": "not sent",
    "mail.state-of": "Email to {who}: {state}",
    "mail.select": "Select {who} for sending",
    "mail.open": "Send upload codes…",
    "mail.title": "Send the upload codes by email",
    "mail.intro": "Each student gets their own link to the upload page, which holds their code. Students without an address, or whose address bounced, get nothing: give them their code another way.",
    "mail.who.new": "Students with an address not yet invited",
    "mail.who.new-count": "Students with an address not yet invited: {count}",
    "mail.who.selected": "The {count} selected",
    "mail.resend": "Send again to those already invited",
    "mail.send": "Send the emails",
    "mail.cancel": "Cancel",
    "mail.none-selected": "Select students in the roster first (the boxes under their names).",
    "mail.queued": "{queued} queued.",
    "mail.not-sent": "Not sent: {reasons}.",
    "mail.skipped.no_email": "{count} without an address",
    "mail.skipped.suppressed": "{count} whose address bounced",
    "mail.skipped.already_invited": "{count} invited before",
    "mail.skipped.too_soon": "{count} invited less than 10 minutes ago",
    "mail.skipped.daily_limit": "{count} invited 3 times today",
    "mail.skipped.from_lms": "{count} from the LMS (they open the exam from their course)",
    "mail.too-often": "Sent a moment ago: wait {seconds} seconds.",
    "mail.progress": "Sent {sent} of {total} · delivered {delivered} · bounced {bounced}",
    "mail.progress-label": "Emails sent so far",
    "mail.done": "Every email of the batch has left: {delivered} delivered, {bounced} bounced, {failed} failed.",
    "mail.counts": "Emails: {queued} queued · {sent} sent · {delivered} delivered · {bounced} bounced · {complained} complained · {failed} failed",
    "mail.student.title": "Email",
    "mail.student.change": "Change…",
    "mail.student.address": "Their address",
    "mail.student.address-hint": "Empty: no address. A new address is emailed again from the start.",
    "mail.student.save": "Save the address",
    "mail.student.changed": "The address is changed.",
    "mail.student.removed": "The address is removed.",
    "mail.student.resend": "Send the code again",
    "mail.student.resent": "The code is queued for {who}.",
    "mail.student.messages": "Emails sent",
    "mail.student.no-messages": "No email yet.",
    "mail.kind.invitation": "Upload code",
    "mail.kind.receipt": "Receipt",
    "mail.kind.rejection": "Upload refused",
    "mail.message": "{kind}: {state}, queued {queued}",
    "mail.message-sent": ", sent {sent}",
    "mail.imported-warnings": "Check these rows (imported as they are):",
  };
  const LANGUAGES = { en: "English", de: "Deutsch", fr: "Français" };
  const STATE_WORDS = {
    queued: "mail.state.queued", sending: "mail.state.sending", sent: "mail.state.sent",
    delivered: "mail.state.delivered", bounced: "mail.state.bounced", complained: "mail.state.complained",
    failed: "mail.state.failed", skipped: "mail.state.skipped",
  };
  const KIND_WORDS = { invitation: "mail.kind.invitation", receipt: "mail.kind.receipt", rejection: "mail.kind.rejection" };
  const SKIPPED_WORDS = {
    no_email: "mail.skipped.no_email", suppressed: "mail.skipped.suppressed",
    already_invited: "mail.skipped.already_invited", too_soon: "mail.skipped.too_soon",
    daily_limit: "mail.skipped.daily_limit", from_lms: "mail.skipped.from_lms",
  };
  // The badges' colours, as the console's other badges use them.
  const LOOK = {
    queued: "none", sending: "none", sent: "state upcoming", delivered: "current",
    bounced: "expired", complained: "expired", failed: "expired", skipped: "none",
  };
  const PROGRESS_EVERY_MS = 2000; // how often the batch's progress is asked for while it is sent
  const PROGRESS_FOR_MS = 10 * 60 * 1000; // then the exam's own refresh takes over
  const selected = new Set(); // nicknames ticked in the roster
  let progressTimer = null;

  function t(key, params = {}) {
    return WORDS[key].replace(/\{(\w+)\}/g, (placeholder, name) => (name in params ? String(params[name]) : placeholder));
  }
  function stateBadge(state) {
    return badge(state ? t(STATE_WORDS[state]) : t("mail.state.none"), `mail ${state ? LOOK[state] : "none"}`);
  }

  // --- the exam's forms: receipts and the emails' language ------------------------------------

  // `prefix`: "exam" in the create form, "edit" in the change form (ids as the forms' own).
  function fieldset(prefix) {
    const select = el("select", { id: `${prefix}-language` },
      ...Object.entries(LANGUAGES).map(([code, name]) => el("option", { value: code, lang: code }, name)));
    return el("fieldset", { id: `${prefix}-mail` },
      el("legend", {}, t("mail.settings")),
      el("div", { className: "check" },
        el("input", { id: `${prefix}-email-receipts`, type: "checkbox", defaultChecked: true }),
        el("label", { htmlFor: `${prefix}-email-receipts` }, t("mail.receipts"))),
      el("label", { htmlFor: `${prefix}-language` }, t("mail.language")),
      select);
  }
  // Into both forms, before their buttons, once.
  function forms() {
    for (const [form, prefix] of [["create-exam", "exam"], ["edit-exam", "edit"]]) {
      if (!$(`${prefix}-mail`)) $(form).insertBefore(fieldset(prefix), busyButton($(form)));
    }
  }
  // What the create form adds to a new exam (nothing for the defaults: receipts on, English),
  // or, with `shown`, what the change form changes.
  function fields(form, shown) {
    forms();
    const prefix = form.id === "create-exam" ? "exam" : "edit";
    const receipts = $(`${prefix}-email-receipts`).checked;
    const language = $(`${prefix}-language`).value;
    const before = shown ? { receipts: shown.email_receipts !== false, language: shown.language || "en" } : {
      receipts: true, language: "en",
    };
    const json = {};
    if (receipts !== before.receipts) json.email_receipts = receipts;
    if (language !== before.language) json.language = language;
    return json;
  }
  // The change form as the exam stands; the create form back to the defaults after a reset.
  function fill(data) {
    forms();
    $("edit-email-receipts").checked = data.email_receipts !== false;
    $("edit-language").value = data.language || "en";
  }

  // --- the exam's page: the send button, the batch's progress, the counts -----------------------

  function box() {
    let found = $("mail-box");
    if (!found) {
      const open = el("button", { type: "button", id: "send-codes", className: "secondary" }, t("mail.open"));
      open.addEventListener("click", openDialog);
      found = el("div", { id: "mail-box" },
        el("div", { className: "row toolbar" }, open),
        el("p", { id: "mail-counts", className: "hint" }),
        el("div", { id: "mail-progress-box", hidden: true },
          el("label", { htmlFor: "mail-progress", className: "secondary-label" }, t("mail.progress-label")),
          el("progress", { id: "mail-progress", max: 1, value: 0 }),
          el("p", { id: "mail-progress-text", role: "status" })));
      $("team-home").after(found);
    }
    return found;
  }
  function banner(data) {
    box();
    $("send-codes").hidden = !may("student.send_codes");
    const counts = data.email_counts;
    const any = counts && Object.values(counts).some((count) => count > 0);
    const text = any ? t("mail.counts", counts) : "";
    if ($("mail-counts").textContent !== text) $("mail-counts").textContent = text; // redrawn every few seconds
    $("mail-counts").hidden = !any;
  }

  // --- the roster: a column of states, the selection -------------------------------------------

  // Under the student's name (a column of its own would make a timed exam's roster scroll sideways
  // on a laptop): the box that selects them for sending, their state, a shared address.
  function row(student, tr) {
    const name = tr.querySelector("td.name");
    if (!name || student.nickname === null) return; // a member shown no names is shown no address
    const head = $("roster").tHead.rows[0].cells[1];
    if (head.textContent !== t("mail.column")) head.textContent = t("mail.column");
    const who = handle(student);
    const content = [];
    if (student.email && may("student.send_codes")) {
      const pick = el("input", { type: "checkbox", className: "mail-pick", checked: selected.has(who) });
      pick.setAttribute("aria-label", t("mail.select", { who }));
      pick.addEventListener("change", () => { if (pick.checked) selected.add(who); else selected.delete(who); });
      content.push(pick, " ");
    }
    if (!student.email) content.push(t("mail.no-address"));
    else if (!student.email_state) content.push(t("mail.state.none"));
    else content.push(spoken(t("mail.state-of", { who, state: "" })), stateBadge(student.email_state));
    if (student.email_shared) content.push(" · ", el("span", { title: t("mail.shared-hint") }, t("mail.shared")));
    tr.dataset.mail = student.email && !student.email_state ? "new" : "";
    name.append(el("div", { className: "mail hint" }, ...content));
  }

  // --- sending: the dialog, the request, the progress ------------------------------------------

  // How many of the shown students have an address and no email yet: told only when the page
  // shows the whole roster (a count of part of it would mislead).
  function notYetEmailed() {
    if (!$("next-page").hidden || !$("prev-page").hidden || listing.q || listing.status) return null;
    return document.querySelectorAll('#roster tbody tr[data-mail="new"]').length;
  }

  function dialog() {
    let found = $("send-dialog");
    if (found) return found;
    const choice = (id, value, checked) => el("div", { className: "check" },
      el("input", { type: "radio", name: "send-who", id, value, checked }), el("label", { htmlFor: id }));
    const send = el("button", { type: "button", id: "send-yes" }, t("mail.send"));
    const cancel = el("button", { type: "button", id: "send-no", className: "secondary" }, t("mail.cancel"));
    found = el("dialog", { id: "send-dialog" },
      el("h2", { id: "send-title" }, t("mail.title")),
      el("p", { className: "hint" }, t("mail.intro")),
      el("fieldset", {}, el("legend", { className: "visually-hidden" }, t("mail.title")),
        choice("send-new", "new", true), choice("send-selected", "selected", false)),
      el("div", { className: "check" }, el("input", { type: "checkbox", id: "send-again" }),
        el("label", { htmlFor: "send-again" }, t("mail.resend"))),
      el("div", { className: "row" }, send, cancel));
    found.setAttribute("aria-labelledby", "send-title");
    send.addEventListener("click", () => attempt(sendCodes, { near: send, busy: send }));
    cancel.addEventListener("click", () => found.close());
    found.addEventListener("close", () => $("send-codes").focus());
    document.body.append(found);
    return found;
  }

  function openDialog() {
    const shown = dialog();
    const count = notYetEmailed();
    shown.querySelector('label[for="send-new"]').textContent = count === null ? t("mail.who.new") : t("mail.who.new-count", { count });
    shown.querySelector('label[for="send-selected"]').textContent = t("mail.who.selected", { count: selected.size });
    $("send-selected").disabled = selected.size === 0;
    $("send-new").checked = selected.size === 0;
    $("send-selected").checked = selected.size > 0;
    $("send-again").checked = false;
    shown.showModal();
    (selected.size ? $("send-selected") : $("send-new")).focus();
  }

  async function sendCodes() {
    const json = { resend: $("send-again").checked };
    if ($("send-selected").checked) {
      if (!selected.size) throw new Mistake(t("mail.none-selected"));
      json.nicknames = [...selected];
    }
    const data = await send(json);
    if (!data) return;
    $("send-dialog").close();
    selected.clear();
    for (const pick of document.querySelectorAll(".mail-pick")) pick.checked = false;
    say(told(data));
    if (data.queued) watchProgress(data.queued);
  }

  // The request; a second one within seconds (a double click, another tab) is said in words.
  async function send(json) {
    try {
      const { data } = await call("POST", path("exams", exam.exam_id, "students", "send-codes"), { json });
      return data;
    } catch (err) {
      if (!(err instanceof Refused) || err.status !== 429) throw err;
      throw new Mistake(t("mail.too-often", { seconds: err.problem.retry_after_s || 10 }));
    }
  }

  function told(data) {
    const reasons = Object.entries(data.skipped || {}).filter(([, count]) => count > 0)
      .map(([reason, count]) => t(SKIPPED_WORDS[reason] || "mail.skipped.no_email", { count }));
    return t("mail.queued", { queued: data.queued }) + (reasons.length ? ` ${t("mail.not-sent", { reasons: reasons.join(", ") })}` : "");
  }

  // The batch's progress from the exam's counts, every 2 s until nothing of it waits; then the
  // roster is drawn again with each student's state.
  function watchProgress(total) {
    clearTimeout(progressTimer);
    const examId = exam.exam_id;
    const until = Date.now() + PROGRESS_FOR_MS;
    $("mail-progress-box").hidden = false;
    $("mail-progress").max = total;
    const tick = async () => {
      if (!exam || exam.exam_id !== examId) return;
      let counts = null;
      try {
        counts = (await call("GET", path("exams", examId))).data.email_counts;
        exam = { ...exam, email_counts: counts };
      } catch (err) {
        // A missed answer is asked again at the next tick.
      }
      if (counts) {
        const sent = total - Math.min(total, counts.queued);
        $("mail-progress").value = sent;
        $("mail-progress-text").textContent = t("mail.progress", { sent, total, delivered: counts.delivered, bounced: counts.bounced });
        banner(exam);
        if (!counts.queued) {
          $("mail-progress-text").textContent = t("mail.done", counts);
          await loadRoster(currentPage);
          return;
        }
      }
      if (Date.now() < until) progressTimer = setTimeout(tick, PROGRESS_EVERY_MS);
    };
    tick();
  }

  // --- one student: the address, sending again, the emails ------------------------------------

  function student(s) {
    let section = $("student-mail");
    if (!section) {
      section = el("section", { id: "student-mail" });
      section.setAttribute("aria-labelledby", "student-mail-title");
      $("student-code-box").after(section);
    }
    section.hidden = s.nickname === null; // a member shown no names is shown no address
    if (section.hidden) { section.replaceChildren(); return; }
    const who = handle(s);
    const line = el("p", { id: "student-mail-line" }, s.email ? el("span", { className: "mono wrap" }, s.email) : t("mail.no-address"),
      " ", spoken(t("mail.state-of", { who, state: "" })), stateBadge(s.email_state));
    if (s.email_shared) line.append(" ", el("span", { className: "badge late" }, t("mail.shared")));
    const buttons = el("p", { className: "row" });
    if (may("student.add")) {
      const change = el("button", { type: "button", className: "secondary", id: "change-email" }, t("mail.student.change"));
      change.addEventListener("click", () => openChange(s));
      buttons.append(change);
    }
    if (s.email && may("student.send_codes")) {
      const again = el("button", { type: "button", className: "secondary", id: "resend-code" }, t("mail.student.resend"));
      again.addEventListener("click", () => attempt(() => resend(s), { near: again, busy: again }));
      buttons.append(" ", again);
    }
    const messages = s.messages || [];
    section.replaceChildren(
      el("h3", { id: "student-mail-title" }, t("mail.student.title")),
      line,
      s.email_shared ? el("p", { className: "hint" }, t("mail.shared-hint")) : "",
      buttons,
      el("h4", {}, t("mail.student.messages")),
      messages.length ? el("ul", { id: "student-messages" }, ...messages.map(messageItem)) : el("p", { className: "hint" }, t("mail.student.no-messages")));
  }

  function messageItem(m) {
    const said = t("mail.message", { kind: t(KIND_WORDS[m.kind]), state: t(STATE_WORDS[m.state]), queued: when(m.queued_at) }) +
      (m.sent_at ? t("mail.message-sent", { sent: when(m.sent_at) }) : "");
    return el("li", {}, said, m.detail ? el("span", { className: "hint wrap" }, ` (${m.detail})`) : "");
  }

  function openChange(s) {
    if ($("email-form")) { $("change-email-input").focus(); return; }
    const input = el("input", { id: "change-email-input", type: "email", value: s.email || "", maxLength: 254, autocomplete: "off" });
    input.setAttribute("aria-describedby", "change-email-hint");
    const save = el("button", { type: "submit" }, t("mail.student.save"));
    const cancel = el("button", { type: "button", className: "secondary" }, t("mail.cancel"));
    const form = el("form", { id: "email-form", noValidate: true },
      el("label", { htmlFor: "change-email-input" }, t("mail.student.address")),
      el("p", { className: "hint", id: "change-email-hint" }, t("mail.student.address-hint")),
      input, el("div", { className: "row" }, save, cancel));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      attempt(() => changeEmail(s, input.value.trim()), { near: form, busy: save });
    });
    cancel.addEventListener("click", () => { form.remove(); $("change-email").focus(); });
    $("student-mail-line").after(form);
    input.focus();
  }

  async function changeEmail(s, email) {
    const nickname = handle(s);
    await call("PUT", path("exams", exam.exam_id, "students", nickname, "email"), { json: { email: email || null } });
    await openStudent(nickname, studentOpener);
    say(t(email ? "mail.student.changed" : "mail.student.removed"));
    if ($("change-email")) $("change-email").focus();
    await loadRoster(currentPage);
  }

  async function resend(s) {
    const nickname = handle(s);
    const data = await send({ nicknames: [nickname], resend: true });
    await openStudent(nickname, studentOpener);
    say(data.queued ? t("mail.student.resent", { who: nickname }) : told(data));
    if (data.queued) watchProgress(data.queued);
  }

  // --- an import's warnings: rows imported as they are, to check -------------------------------

  function imported(data) {
    const warnings = data.warnings || [];
    let list = $("import-warnings");
    if (!list) {
      list = el("div", { id: "import-warnings", className: "warning" });
      $("import-created").after(list);
    }
    list.hidden = warnings.length === 0;
    list.replaceChildren(el("p", {}, t("mail.imported-warnings")),
      el("ul", {}, ...warnings.map((w) => el("li", {}, `Line ${w.line}: ${w.message}`))));
  }

  return { forms, fields, fill, banner, row, student, imported };
})();
