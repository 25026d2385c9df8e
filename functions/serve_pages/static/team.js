// The console's team parts: the members of an exam, joining one by invitation, and its audit log.
// examiner.js loads this file the first time one of them is opened (the console's first load stays
// light) and it works with examiner.js's own helpers (call, attempt, el, exam, …): the two are
// served together, and a page keeps the pair it loaded.
// Everything from the API is shown with textContent: labels and titles are other people's data.
"use strict";
const teamParts = (() => {
  // Its words, by key: the English of the catalogues (i18n/en.json); the console reads English.
  const WORDS = {
    "team.close": "Close",
    "team.you": "You",
    "team.unnamed": "A member without a name ({id})",
    "team.former": "A former member ({id})",
    "team.members.title": "Members",
    "team.members.caption": "The members of this exam, with their roles",
    "team.members.member": "Member",
    "team.members.role": "Role",
    "team.members.joined": "Joined",
    "team.members.role-of": "Role of {who}",
    "team.members.remove": "Remove…",
    "team.members.remove-what": "Remove {who} ({role}) from this exam? They lose access to it at once; what they did stays in the audit log.",
    "team.members.remove-yes": "Remove {who}",
    "team.members.remove-no": "Keep {who}",
    "team.members.removed": "{who} is no longer a member of this exam.",
    "team.members.changed": "{who} is now: {role}.",
    "team.members.leave": "Leave this exam…",
    "team.members.leave-what": "Leave “{title}”? You lose access to it at once; an owner can invite you again.",
    "team.members.leave-yes": "Leave the exam",
    "team.members.leave-no": "Stay",
    "team.members.left": "You left “{title}”.",
    "team.invitations.title": "Open invitations",
    "team.invitations.none": "No invitation is open.",
    "team.invitations.item": "{role}, for {label}: made {created}, expires {expires}",
    "team.invitations.nobody": "no one named",
    "team.invite.title": "Invite a member",
    "team.invite.role": "Their role",
    "team.invite.label": "Their name or a note (optional)",
    "team.invite.label-hint": "Shown in the members list and the audit log instead of an id.",
    "team.invite.submit": "Make the invitation",
    "team.invite.code": "The invitation code, shown this once:",
    "team.invite.copy": "Copy",
    "team.invite.copy-what": " the invitation code",
    "team.invite.copied": "The invitation code is copied.",
    "team.invite.selected": "The code is selected: copy it with your keyboard or menu.",
    "team.invite.how": "It works once, until {expires}. Give it to them: they choose “Join an exam” in their console, signed in with their own key, and paste it.",
    "team.invite.done": "An invitation as {role} is made. Its code is shown below the form, once.",
    "team.join.title": "Join an exam",
    "team.join.code": "Invitation code",
    "team.join.hint": "The code an owner of the exam gave you. It works once, and makes the key you are signed in with a member.",
    "team.join.submit": "Join",
    "team.join.cancel": "Cancel",
    "team.join.empty": "Paste the invitation code first.",
    "team.join.done": "You joined “{title}” as: {role}.",
    "team.audit.title": "Audit log",
    "team.audit.hint": "Every change and every disclosure in this exam, newest first. Students are named by their pseudonyms.",
    "team.audit.student": "Student (nickname or pseudonym)",
    "team.audit.action": "Action",
    "team.audit.every-action": "every action",
    "team.audit.show": "Show",
    "team.audit.caption": "The audit log of this exam, newest first",
    "team.audit.when": "When",
    "team.audit.who": "Who",
    "team.audit.role": "Role",
    "team.audit.what": "What",
    "team.audit.target": "Target",
    "team.audit.change": "Change",
    "team.audit.yours": "Your time: {time}",
    "team.audit.none": "No event matches.",
    "team.audit.more": "More",
    "team.audit.download": "Download the whole log (CSV)",
    "team.audit.downloaded": "The whole log is downloaded.",
    "team.audit.shown": "Events shown: {count}.",
    "team.who.student": "Student {pseudonym}",
    "team.who.reviewer": "A reviewer",
    "team.who.ops": "Operations",
    "team.who.system": "The service ({job})",
    "team.target.exam": "The exam",
    "team.target.students": "Several students",
    "team.target.invitation": "Invitation {id}",
    "team.target.export": "Export {id}",
    "team.target.paper": "Question paper {id}",
    "team.target.verification": "Verification code {id}",
    "team.action.exam.created": "Created the exam",
    "team.action.exam.updated": "Changed the exam",
    "team.action.exam.closed": "Closed the exam",
    "team.action.exam.deleted": "Deleted the exam",
    "team.action.exam.assigned": "Gave the exam an owner",
    "team.action.member.invited": "Invited a member",
    "team.action.member.joined": "Joined the exam",
    "team.action.member.role_changed": "Changed a member's role",
    "team.action.member.removed": "Removed a member",
    "team.action.lti.linked": "Placed the exam in a course of the LMS",
    "team.action.lti.teacher_launched": "Opened the exam from the LMS",
    "team.action.lti.student_launched": "A student opened the exam from the LMS",
    "team.action.lti.roster_synced": "Synced the roster with the LMS's class list",
    "team.action.lti.score_sent": "A hand-in status reached the LMS's gradebook",
    "team.action.lti.score_failed": "A hand-in status could not be sent to the LMS's gradebook",
    "team.action.student.added": "Added a student",
    "team.action.students.imported": "Imported a roster",
    "team.action.student.removed": "Removed a student",
    "team.action.student.code_regenerated": "Made a new upload code",
    "team.action.student.code_shown": "Was shown upload codes",
    "team.action.student.name_revealed": "Was shown the names behind pseudonyms",
    "team.action.students.invited": "Emailed students their upload codes",
    "team.action.student.email_changed": "Changed a student's email address",
    "team.action.extension.set": "Gave an extension",
    "team.action.extension.removed": "Removed an extension",
    "team.action.extensions.imported": "Imported extensions",
    "team.action.accommodation.set": "Set extra time",
    "team.action.accommodations.imported": "Imported extra time",
    "team.action.paper.form_issued": "Began uploading the question paper",
    "team.action.paper.uploaded": "The question paper arrived",
    "team.action.paper.first_download": "Downloaded the question paper for the first time",
    "team.action.export.created": "Started an export",
    "team.action.export.link_issued": "Was given an export's download link",
    "team.action.verification.link_issued": "Was given an answer's download link",
    "team.action.submission.scan_threat": "Malware was found in a file",
    "team.action.submission.scan_unsupported": "A file could not be scanned for malware",
    "team.action.submission.scan_failed": "A file's malware scan failed",
    "team.action.submission.released": "Released a file without a malware check",
  };
  const ACTIONS = Object.keys(WORDS).filter((key) => /^team\.action\./.test(key)).map((key) => key.slice(12));
  const ROLE_CHOICES = ["co_examiner", "grader", "invigilator", "owner"];
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

  function t(key, params = {}) {
    return WORDS[key].replace(/\{(\w+)\}/g, (placeholder, name) => (name in params ? String(params[name]) : placeholder));
  }
  // A time to the second (a dispute turns on it), in a zone.
  function precise(iso, zone) {
    return new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
      timeZone: zone, timeZoneName: "short",
    }).format(new Date(iso));
  }
  function labelled(id, text, field, hint) {
    return [el("label", { htmlFor: id }, text), ...(hint ? [el("p", { className: "hint", id: `${id}-hint` }, hint)] : []), field];
  }
  function select(id, options, chosen) {
    const node = el("select", { id }, ...options.map(([value, text]) => el("option", { value }, text)));
    node.value = chosen;
    return node;
  }
  function table(caption, headings, rows) {
    return el("div", { className: "table-wrap" }, el("table", { className: "cards" },
      el("caption", { className: "visually-hidden" }, caption),
      el("thead", {}, el("tr", {}, ...headings.map((text) => el("th", { scope: "col" }, text)))),
      el("tbody", {}, ...rows)));
  }

  // --- the panel under the exam's Members and Audit log buttons: one at a time ---------------

  // The button of an open panel closes it.
  function closedAgain(button) {
    if (button.ariaExpanded !== "true") return false;
    closeTeam();
    button.focus();
    return true;
  }
  // The panel `button` opens, in place of the one that was open.
  function openPanel(button, title, ...content) {
    closeTeam();
    button.ariaExpanded = "true";
    const close = el("button", { type: "button", className: "quiet" }, t("team.close"));
    close.addEventListener("click", () => closedAgain(button));
    const heading = el("h3", { id: "team-title", tabIndex: -1 }, title);
    const panel = el("section", { className: "panel team" }, el("div", { className: "bar" }, heading, close), ...content);
    panel.setAttribute("aria-labelledby", "team-title");
    panel.addEventListener("keydown", (event) => { if (event.key === "Escape") closedAgain(button); });
    $("team-home").replaceChildren(panel);
    heading.focus();
    return panel;
  }

  // --- members --------------------------------------------------------------------------------

  // member_id -> how the console names them: "You", their label, or a short id.
  function namer(items) {
    const byId = new Map(items.map((m) => [m.member_id, m]));
    return (id) => {
      const m = byId.get(id);
      if (!m) return t("team.former", { id: id.slice(0, 8) });
      if (m.you) return t("team.you");
      return m.label || t("team.unnamed", { id: id.slice(0, 8) });
    };
  }
  function listMembers() { return call("GET", path("exams", exam.exam_id, "members")); }

  async function members(button) {
    if (closedAgain(button)) return;
    const { data } = await listMembers();
    drawMembers(openPanel(button, t("team.members.title")), data);
  }

  // Every member sees the list; an owner changes roles, removes and invites; the others may leave.
  function drawMembers(panel, data) {
    const manage = may("member.manage");
    const name = namer(data.items);
    const confirmBox = el("div", { className: "confirm", hidden: true });
    const list = table(t("team.members.caption"),
      [t("team.members.member"), t("team.members.role"), t("team.members.joined")], data.items.map((m) => {
        const who = name(m.member_id);
        const role = cell(t("team.members.role"), "role");
        if (manage && !m.you) {
          const id = `role-${m.member_id}`;
          const choice = select(id, ROLE_CHOICES.map((r) => [r, roleName(r)]), m.role);
          choice.addEventListener("change", () => attempt(async () => {
            try {
              await call("PATCH", path("exams", exam.exam_id, "members", m.member_id), { json: { role: choice.value } });
            } catch (err) {
              choice.value = m.role; // refused (the last owner): the role it still has
              throw err;
            }
            await redraw(panel, `#${CSS.escape(id)}`);
            say(t("team.members.changed", { who, role: roleName(choice.value) }));
          }, { near: list, busy: choice }));
          const remove = el("button", { type: "button", className: "danger-quiet" }, t("team.members.remove"), spoken(` ${who}`));
          remove.addEventListener("click", () => askRemove(panel, confirmBox, m, who, remove));
          role.append(el("label", { htmlFor: id, className: "visually-hidden" }, t("team.members.role-of", { who })), choice, " ", remove);
        } else {
          role.append(badge(roleName(m.role), "role"));
        }
        return el("tr", {}, el("th", { scope: "row" }, who), role, cell(t("team.members.joined"), "joined", dateCell(m.joined_at)));
      }));
    panel.append(list, confirmBox);
    if (manage) panel.append(invitations(data.invitations || []), inviteForm(panel));
    else panel.append(leaveBox(data.items.find((m) => m.you)));
  }

  async function redraw(panel, focus) {
    const { data } = await listMembers();
    if (!panel.isConnected) return;
    panel.replaceChildren(panel.firstChild);
    drawMembers(panel, data);
    const target = focus && panel.querySelector(focus);
    (target || panel.querySelector("h3")).focus();
  }

  function askRemove(panel, box, m, who, remove) {
    clearError();
    const yes = el("button", { type: "button", className: "destructive" }, t("team.members.remove-yes", { who }));
    const no = el("button", { type: "button", className: "secondary" }, t("team.members.remove-no", { who }));
    box.replaceChildren(el("p", { className: "strong" }, t("team.members.remove-what", { who, role: roleName(m.role) })),
      el("div", { className: "row" }, yes, no));
    box.hidden = false;
    no.addEventListener("click", () => { box.hidden = true; remove.focus(); });
    yes.addEventListener("click", () => attempt(async () => {
      await call("DELETE", path("exams", exam.exam_id, "members", m.member_id));
      await redraw(panel);
      say(t("team.members.removed", { who }));
    }, { near: box, busy: yes }));
    no.focus();
  }

  function invitations(open) {
    const items = open.map((i) => el("li", {}, t("team.invitations.item", {
      role: roleName(i.role), label: i.label || t("team.invitations.nobody"),
      created: when(i.created_at), expires: when(i.expires_at),
    })));
    return el("div", { id: "open-invitations" }, el("h4", {}, t("team.invitations.title")),
      items.length ? el("ul", {}, ...items) : el("p", { className: "hint" }, t("team.invitations.none")));
  }

  function inviteForm(panel) {
    const role = select("invite-role", ROLE_CHOICES.map((r) => [r, roleName(r)]), "grader");
    const label = el("input", { id: "invite-label", maxLength: 100, autocomplete: "off" });
    label.setAttribute("aria-describedby", "invite-label-hint");
    const submit = el("button", { type: "submit", className: "secondary" }, t("team.invite.submit"));
    const shown = el("div", { className: "panel", id: "invited", hidden: true });
    const form = el("form", { id: "invite-form", noValidate: true }, el("h4", {}, t("team.invite.title")),
      ...labelled("invite-role", t("team.invite.role"), role),
      ...labelled("invite-label", t("team.invite.label"), label, t("team.invite.label-hint")), submit);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      attempt(async () => {
        const json = { role: role.value };
        if (label.value.trim()) json.label = label.value.trim();
        shown.hidden = true;
        const { data } = await call("POST", path("exams", exam.exam_id, "members", "invitations"), { json });
        form.reset();
        role.value = "grader";
        const code = el("span", { className: "mono code big", id: "invitation-code" }, data.invitation_code);
        const copy = el("button", { type: "button", className: "secondary" }, t("team.invite.copy"), spoken(t("team.invite.copy-what")));
        copy.addEventListener("click", () => copyText(code));
        shown.replaceChildren(el("p", { className: "strong" }, t("team.invite.code")),
          el("p", { className: "row code-line" }, code, copy),
          el("p", {}, t("team.invite.how", { expires: when(data.expires_at) })));
        shown.hidden = false;
        // The open invitations gain this one; its code stays shown below the form.
        const { data: listed } = await listMembers();
        panel.querySelector("#open-invitations").replaceWith(invitations(listed.invitations || []));
        say(t("team.invite.done", { role: roleName(data.role) }));
        copy.focus();
      }, { near: form, busy: submit });
    });
    return el("div", {}, form, shown);
  }

  async function copyText(node) {
    try {
      await navigator.clipboard.writeText(node.textContent);
      say(t("team.invite.copied"));
    } catch {
      window.getSelection().selectAllChildren(node);
      say(t("team.invite.selected"));
    }
  }

  function leaveBox(me) {
    const leave = el("button", { type: "button", className: "danger-quiet" }, t("team.members.leave"));
    const yes = el("button", { type: "button", className: "destructive" }, t("team.members.leave-yes"));
    const no = el("button", { type: "button", className: "secondary" }, t("team.members.leave-no"));
    const confirmBox = el("div", { hidden: true }, el("p", { className: "strong" }, t("team.members.leave-what", { title: exam.title })),
      el("div", { className: "row" }, yes, no));
    leave.addEventListener("click", () => { clearError(); confirmBox.hidden = false; no.focus(); });
    no.addEventListener("click", () => { confirmBox.hidden = true; leave.focus(); });
    yes.addEventListener("click", () => attempt(async () => {
      const { title } = exam;
      await call("DELETE", path("exams", exam.exam_id, "members", me.member_id));
      await showExams();
      say(t("team.members.left", { title }));
    }, { near: confirmBox, busy: yes }));
    return el("div", { className: "danger" }, leave, confirmBox);
  }

  // --- joining by invitation --------------------------------------------------------------------

  function join(button) {
    if (button.ariaExpanded === "true") { closeJoin(button); return; }
    const code = el("input", { id: "join-code", className: "mono", autocomplete: "off", spellcheck: false });
    code.setAttribute("aria-describedby", "join-code-hint");
    const submit = el("button", { type: "submit", className: "primary" }, t("team.join.submit"));
    const cancel = el("button", { type: "button", className: "quiet" }, t("team.join.cancel"));
    const heading = el("h3", { tabIndex: -1 }, t("team.join.title"));
    const form = el("form", { id: "join-form", className: "panel", noValidate: true }, heading,
      ...labelled("join-code", t("team.join.code"), code, t("team.join.hint")), el("div", { className: "row" }, submit, cancel));
    cancel.addEventListener("click", () => closeJoin(button));
    form.addEventListener("keydown", (event) => { if (event.key === "Escape") closeJoin(button); });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      attempt(async () => {
        const typed = code.value.trim();
        if (!typed) throw new Mistake(t("team.join.empty"));
        const { data } = await call("POST", path("members", "invitations", typed));
        closeJoin(button);
        await openExam(data.exam_id);
        say(t("team.join.done", { title: data.title, role: roleName(data.role) }));
      }, { near: form, busy: submit });
    });
    button.ariaExpanded = "true";
    $("join-home").replaceChildren(form);
    code.focus();
  }

  function closeJoin(button) {
    $("join-home").replaceChildren();
    button.ariaExpanded = "false";
    if (!$("exams-view").hidden) button.focus();
  }

  // --- the audit log ----------------------------------------------------------------------------

  async function audit(button) {
    if (closedAgain(button)) return;
    // The members name the actors; the first page of the log is asked for meanwhile.
    const [{ data: listed }, page] = await Promise.all([listMembers(), auditPage({}, null)]);
    const name = namer(listed.items);
    const student = el("input", { id: "audit-student", type: "search", maxLength: 64, autocomplete: "off", spellcheck: false });
    const action = select("audit-action", [["", t("team.audit.every-action")], ...ACTIONS.map((a) => [a, t(`team.action.${a}`)])], "");
    const filters = el("form", { id: "audit-filters", className: "row toolbar", role: "search", noValidate: true },
      el("span", {}, ...labelled("audit-student", t("team.audit.student"), student)),
      el("span", {}, ...labelled("audit-action", t("team.audit.action"), action)),
      el("button", { type: "submit", className: "secondary" }, t("team.audit.show")));
    const headings = ["when", "who", "role", "what", "target", "change"].map((k) => t(`team.audit.${k}`));
    const wrap = table(t("team.audit.caption"), headings, []);
    const body = wrap.querySelector("tbody");
    const none = el("p", { className: "hint", hidden: true }, t("team.audit.none"));
    const count = el("p", { className: "hint", ariaLive: "polite" });
    const more = el("button", { type: "button", className: "secondary", hidden: true }, t("team.audit.more"));
    const download = el("button", { type: "button", className: "secondary" }, t("team.audit.download"));
    openPanel(button, t("team.audit.title"), el("p", { className: "hint" }, t("team.audit.hint")), filters,
      wrap, none, el("div", { className: "row toolbar" }, count, more, download));
    let shown = { nickname: "", action: "" };
    let cursor = null;
    const draw = (answer, append) => {
      const rows = answer.items.map((item) => eventRow(item, name));
      if (append) body.append(...rows); else body.replaceChildren(...rows);
      cursor = answer.next_cursor;
      more.hidden = !cursor;
      none.hidden = body.rows.length > 0;
      count.textContent = t("team.audit.shown", { count: body.rows.length });
      return rows;
    };
    draw(page, false);
    filters.addEventListener("submit", (event) => {
      event.preventDefault();
      attempt(async () => {
        const wanted = { nickname: student.value.trim(), action: action.value };
        draw(await auditPage(wanted, null), false);
        shown = wanted;
      }, { near: filters, busy: filters.querySelector("button") });
    });
    more.addEventListener("click", () => attempt(async () => {
      const rows = draw(await auditPage(shown, cursor), true);
      if (rows.length) rows[0].querySelector("th").focus();
    }, { near: more, busy: more }));
    download.addEventListener("click", () => attempt(async () => {
      const { blob, response } = await call("GET", path("exams", exam.exam_id, "audit"), { accept: "text/csv" });
      const named = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "");
      const link = el("a", { href: URL.createObjectURL(blob), download: named ? named[1] : `${exam.exam_id}-audit.csv` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
      say(t("team.audit.downloaded"));
    }, { near: download, busy: download }));
  }

  async function auditPage({ nickname, action }, cursor) {
    const query = new URLSearchParams({ limit: 100 });
    if (nickname) query.set("nickname", nickname);
    if (action) query.set("action", action);
    if (cursor) query.set("cursor", cursor);
    return (await call("GET", `${path("exams", exam.exam_id, "audit")}?${query}`)).data;
  }

  // Who acted: a member (by name), a student, a reviewer, operations or one of the service's jobs.
  function actor(id, name) {
    if (UUID.test(id)) return name(id);
    const [kind, rest] = [id.split(":")[0], id.slice(id.indexOf(":") + 1)];
    if (kind === "student") return t("team.who.student", { pseudonym: rest });
    if (kind === "system") return t("team.who.system", { job: rest });
    if (kind === "reviewer" || kind === "ops") return t(`team.who.${kind}`);
    return id;
  }

  function target(text, name) {
    const [kind, id] = [text.split(":")[0], text.slice(text.indexOf(":") + 1)];
    if (kind === "member") return name(id);
    if (kind === "student") return id;
    if (kind === "exam" || kind === "students") return t(`team.target.${kind}`);
    const key = `team.target.${kind}`;
    return WORDS[key] ? t(key, { id }) : text;
  }

  // A value of the change as a person reads it: an instant in the exam's zone, the rest as written.
  function value(v) {
    if (v === null || v === undefined) return "—";
    if (typeof v === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v)) return precise(v, exam.timezone);
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }
  function change(before, after) {
    const keys = [...new Set([...Object.keys(before || {}), ...Object.keys(after || {})])];
    return keys.map((key) => {
      const was = before && key in before ? value(before[key]) : null;
      const now = after && key in after ? value(after[key]) : null;
      const text = was !== null && now !== null ? `${was} → ${now}` : was !== null ? `${was} →` : now;
      return el("div", {}, el("span", { className: "mono" }, key), `: ${text}`);
    });
  }

  function eventRow(item, name) {
    const examZone = precise(item.at, exam.timezone);
    const yours = ownZone === exam.timezone ? "" : el("div", { className: "hint" }, t("team.audit.yours", { time: precise(item.at, ownZone) }));
    const what = WORDS[`team.action.${item.action}`] ? t(`team.action.${item.action}`) : item.action;
    return el("tr", {},
      el("th", { scope: "row", className: "when", tabIndex: -1 }, examZone, yours),
      cell(t("team.audit.who"), "who", actor(item.actor, name)),
      cell(t("team.audit.role"), "role", item.role ? roleName(item.role) : "—"),
      cell(t("team.audit.what"), "what", what),
      cell(t("team.audit.target"), "target", target(item.target, name)),
      cell(t("team.audit.change"), "change", ...change(item.before, item.after)));
  }

  return { join, members, audit };
})();
