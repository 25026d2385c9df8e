// The console's LMS part: a teacher's landing from their course (the session in this tab), the
// deep-link picker (which exam a new link in the course opens), an exam's courses (class list,
// gradebook column, the roster sync, the scores sent) and, signed in with a key, the LMS
// connections (registrations). examiner.js loads this file when a session lands and with files.js
// and mail.js once signed in, and calls it where exams and students are drawn; it works with
// examiner.js's own helpers (call, attempt, el, badge, exam, may, show, signOut, …): the two are
// served together, and a page keeps the pair it loaded.
// Everything from the API or the LMS is shown with textContent: names and course titles are other people's.
"use strict";
const ltiParts = (() => {
  // Its words, by key: the English of the catalogues (i18n/en.json); the console reads English.
  const WORDS = {
    "lti.signed-in": "Signed in from {platform} as {name} ({role}) until {time}.",
    "lti.teacher": "teacher",
    "lti.someone": "a teacher",
    "lti.pick.title": "Choose the exam for {course}",
    "lti.pick.course": "your course",
    "lti.pick.intro": "The course gets a link to the exam you choose, and a gradebook column where the platform offers one. Students who follow the link land on their own upload page.",
    "lti.pick.none": "You have no exam you may place in a course yet: create one below.",
    "lti.pick.choose": "Choose {title}",
    "lti.pick.create": "Create an exam",
    "lti.pick.this": "Choose this exam for {course}",
    "lti.pick.sending": "Returning to your course…",
    "lti.panel.open": "Courses in an LMS…",
    "lti.panel.title": "Courses in an LMS",
    "lti.panel.none": "This exam is in no course yet. A teacher adds it to a course from the LMS.",
    "lti.panel.course": "{course} on {platform}",
    "lti.panel.column": "Gradebook column",
    "lti.panel.class-list": "Class list",
    "lti.panel.yes": "yes",
    "lti.panel.no": "no",
    "lti.panel.available": "available",
    "lti.panel.not-yet": "not yet",
    "lti.panel.last-sync": "Last sync",
    "lti.panel.never": "never",
    "lti.panel.scores": "Gradebook: {sent} sent · {waiting} waiting · {failed} failed",
    "lti.sync.now": "Sync the class list now",
    "lti.sync.running": "Syncing the class list…",
    "lti.sync.report": "{course}: {members} in the course, {added} added, {left} left, {rejoined} back, {updated} updated.",
    "lti.sync.failed": "{course}: the sync failed ({detail}).",
    "lti.sync.names": "{what}: {names}",
    "lti.sync.added": "Added",
    "lti.sync.left": "Left",
    "lti.sync.rejoined": "Back",
    "lti.row.from-lms": "from the LMS",
    "lti.row.left": "left the course on {date}",
    "lti.reg.open": "LMS connections…",
    "lti.reg.title": "LMS connections",
    "lti.reg.intro": "Connect the learning platform of your courses (Moodle, Canvas, Blackboard, Brightspace): teachers then add your exams to their courses, and students hand in from there.",
    "lti.reg.none": "No LMS is connected yet.",
    "lti.reg.item": "{platform}: client {client}, {how}, deployments {deployments}",
    "lti.reg.how.manual": "registered by hand",
    "lti.reg.how.dynamic": "registered by the LMS",
    "lti.reg.inactive": "inactive",
    "lti.reg.connect": "Connect an LMS",
    "lti.reg.url": "Paste this address into your LMS's tool registration, once, within 24 hours:",
    "lti.reg.copy": "Copy the address",
    "lti.reg.copied": "The address is copied.",
    "lti.reg.manual": "Register by hand…",
    "lti.reg.manual-intro": "For a platform without dynamic registration: from its tool configuration, its issuer, client id and deployment ids, and its three addresses.",
    "lti.reg.issuer": "Issuer (platform id)",
    "lti.reg.client-id": "Client id",
    "lti.reg.deployment-ids": "Deployment ids, one a line",
    "lti.reg.auth-login-url": "Authentication request URL",
    "lti.reg.auth-token-url": "Access token URL",
    "lti.reg.key-set-url": "Public keyset URL",
    "lti.reg.auth-audience": "Access token audience (Brightspace; else empty)",
    "lti.reg.save": "Register",
    "lti.reg.saved": "{platform} is registered.",
    "lti.reg.tool": "Give the LMS these addresses of Exam Depository:",
    "lti.tool.login_url": "Login initiation URL",
    "lti.tool.launch_url": "Launch URL",
    "lti.tool.redirect_uris": "Redirection URIs",
    "lti.tool.deep_linking_url": "Deep linking URL",
    "lti.tool.jwks_url": "Public keyset URL",
    "lti.tool.domain": "Domain",
  };
  const SESSION = "lti-session"; // the teacher's session from the launch, this tab's alone
  const PICK = "lti-pick"; // the deep-link request waiting for an exam
  const TOOL = ["login_url", "launch_url", "redirect_uris", "deep_linking_url", "jwks_url", "domain"];
  const action = (name) => `lti.${name}`; // the API's actions on an exam's LMS links (read, sync)
  let panelFor = null; // the exam whose courses are drawn: they are asked for once per opening

  function t(key, params = {}) {
    return WORDS[key].replace(/\{(\w+)\}/g, (placeholder, name) => (name in params ? String(params[name]) : placeholder));
  }
  // What the session says of itself (for the header only: the API judges it).
  function claims() {
    try {
      const body = sessionStorage[SESSION].split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(body), (c) => c.charCodeAt(0))));
    } catch (err) {
      return {};
    }
  }
  const hosted = () => Boolean(sessionStorage[SESSION]);

  // Signing out forgets the session too; a session shows Sign out and who it is.
  const keyedSignOut = signOut;
  signOut = (why) => { sessionStorage.removeItem(SESSION); sessionStorage.removeItem(PICK); keyedSignOut(why); };
  const keyedShow = show;
  show = (view) => {
    keyedShow(view);
    if (view !== "exam") panelFor = null;
    if (hosted()) { $("sign-out").hidden = false; header(); }
  };
  function header() {
    const c = claims();
    let line = $("lti-signed-in");
    if (!line) { line = el("p", { id: "lti-signed-in", className: "hint" }); $("sign-out").before(line); }
    line.textContent = t("lti.signed-in", {
      platform: c.platform ? new URL(c.platform).host : "", name: c.name || t("lti.someone"),
      role: exam ? roleName(exam.role) : t("lti.teacher"), time: c.exp ? when(new Date(c.exp * 1000).toISOString()) : "",
    });
  }

  // --- the landing: #session=…&exam=… or #session=…&pick=… -----------------------------------

  // `hash` is the address's fragment as the console found it (it has taken it out of the address).
  async function land(hash) {
    const fragment = new URLSearchParams(hash.slice(1));
    if (fragment.get("session")) {
      sessionStorage[SESSION] = fragment.get("session");
      if (fragment.get("pick")) sessionStorage[PICK] = fragment.get("pick");
      else sessionStorage.removeItem(PICK);
    }
    const examId = fragment.get("exam") || claims().exam;
    if (sessionStorage[PICK]) {
      await showExams();
      await picker();
    } else if (examId) {
      await openExam(examId);
    } else {
      await showExams();
    }
    header();
  }

  // --- the picker --------------------------------------------------------------------------

  function course() { return claims().course || t("lti.pick.course"); }

  async function picker() {
    const items = [];
    let cursor = "";
    for (let page = 0; page < 20; page += 1) { // every exam of the caller's, 50 at a time
      const { data } = await call("GET", `exams?limit=50${cursor && `&cursor=${encodeURIComponent(cursor)}`}`);
      items.push(...data.items);
      cursor = data.next_cursor;
      if (!cursor) break;
    }
    const mine = items.filter((item) => item.role === "owner" || item.role === "co_examiner");
    const create = el("button", { type: "button", className: "secondary" }, t("lti.pick.create"));
    create.addEventListener("click", () => { $("exam-title").focus(); $("exam-title").scrollIntoView({ block: "center" }); });
    const list = el("ul", { className: "lti-picks" }, ...mine.map((item) => {
      const choose = el("button", { type: "button", className: "secondary" }, t("lti.pick.choose", { title: item.title }));
      choose.addEventListener("click", () => attempt(() => place(item.exam_id), { busy: choose }));
      return el("li", {}, choose, " ", el("span", { className: "hint mono" }, item.exam_id));
    }));
    const heading = el("h3", { id: "lti-picker-title", tabIndex: -1 }, t("lti.pick.title", { course: course() }));
    let box = $("lti-picker");
    if (!box) { box = el("section", { id: "lti-picker", className: "panel" }); $("exams-title").after(box); }
    box.setAttribute("aria-labelledby", "lti-picker-title");
    box.replaceChildren(heading, el("p", { className: "hint" }, t("lti.pick.intro")),
      mine.length ? list : el("p", {}, t("lti.pick.none")), create);
    heading.focus();
  }

  // The LMS's answer: a form posting the signed link back to the course, built and sent by script.
  async function place(examId) {
    const { data } = await call("POST", "lti/deep-links", { json: { request_id: sessionStorage[PICK], exam_id: examId } });
    sessionStorage.removeItem(PICK);
    say(t("lti.pick.sending"));
    const form = el("form", { method: "post", action: data.return_url, hidden: true },
      el("input", { type: "hidden", name: "JWT", value: data.jwt }));
    document.body.append(form);
    form.submit();
  }

  // --- an exam's courses -------------------------------------------------------------------

  function panelBox() {
    let box = $("lti-panel");
    if (!box) {
      box = el("section", { id: "lti-panel", className: "panel lti" });
      box.setAttribute("aria-labelledby", "lti-panel-title");
      $("team-home").after(box);
    }
    return box;
  }

  async function panel(data) {
    const box = panelBox();
    box.hidden = !may(action("read"));
    if (box.hidden || panelFor === data.exam_id) return;
    panelFor = data.exam_id;
    try {
      const answer = await call("GET", path("exams", data.exam_id, "lti"));
      if (!exam || exam.exam_id !== data.exam_id) return;
      drawPanel(box, answer.data);
    } catch (err) {
      box.hidden = true;
      panelFor = null;
      throw err;
    }
  }

  // Signed in with a key, the exam's courses open from a button (most exams are in none: they
  // are not asked for at each opening); a teacher from their course sees them at once.
  function panelButton() {
    let button = $("lti-open-panel");
    if (!button) {
      button = el("button", { type: "button", id: "lti-open-panel", className: "secondary", ariaExpanded: "false" }, t("lti.panel.open"));
      button.addEventListener("click", () => attempt(async () => {
        if (button.ariaExpanded === "true") {
          panelBox().hidden = true;
          panelFor = null;
          button.ariaExpanded = "false";
          return;
        }
        await panel(exam);
        button.ariaExpanded = "true";
        $("lti-panel-title").focus();
      }, { busy: button }));
      $("open-audit").after(button);
    }
    return button;
  }

  function fact(term, value) { return [el("dt", {}, term), el("dd", {}, value)]; }

  function drawPanel(box, state, reports = []) {
    const links = state.links || [];
    const parts = [el("h3", { id: "lti-panel-title", tabIndex: -1 }, t("lti.panel.title"))];
    if (!links.length) parts.push(el("p", { className: "hint" }, t("lti.panel.none")));
    for (const link of links) {
      const sync = link.last_sync;
      parts.push(el("h4", {}, t("lti.panel.course", { course: link.course || link.context_id, platform: hostOf(link.platform) })),
        el("dl", { className: "facts" },
          ...fact(t("lti.panel.column"), t(link.line_item ? "lti.panel.yes" : "lti.panel.no")),
          ...fact(t("lti.panel.class-list"), t(link.roster_service ? "lti.panel.available" : "lti.panel.not-yet")),
          ...fact(t("lti.panel.last-sync"), sync ? syncWords(sync) : t("lti.panel.never"))));
    }
    const s = state.scores;
    if (s && links.length) {
      parts.push(el("p", { id: "lti-scores" }, t("lti.panel.scores", { sent: s.sent + s.superseded, waiting: s.queued + s.sending, failed: s.failed })));
    }
    if (links.some((link) => link.roster_service) && may(action("sync"))) {
      const button = el("button", { type: "button", id: "lti-sync", className: "secondary" }, t("lti.sync.now"));
      button.addEventListener("click", () => attempt(() => syncNow(box), { near: button, busy: button }));
      parts.push(button);
    }
    const said = el("ul", { id: "lti-sync-report", className: "hint" }, ...reports.map((report) => el("li", {}, syncWords(report))));
    said.hidden = !reports.length;
    parts.push(said);
    box.replaceChildren(...parts);
  }

  function hostOf(url) { try { return new URL(url).host; } catch (err) { return url; } }

  function syncWords(report) {
    if (report.status === "failed") return t("lti.sync.failed", { course: report.course || "", detail: report.detail || "" });
    const names = (people) => people.map((p) => [p.first_name, p.last_name].filter(Boolean).join(" ") || p.nickname).join(", ");
    let text = `${when(report.finished_at || report.started_at)} · ` + t("lti.sync.report", {
      course: report.course || "", members: report.members, added: report.added.length, left: report.left.length,
      rejoined: report.rejoined.length, updated: report.updated,
    });
    for (const [key, people] of [["lti.sync.added", report.added], ["lti.sync.left", report.left], ["lti.sync.rejoined", report.rejoined]]) {
      if (people.length) text += ` ${t("lti.sync.names", { what: t(key), names: names(people) })}.`;
    }
    return text;
  }

  async function syncNow(box) {
    const examId = exam.exam_id;
    say(t("lti.sync.running"));
    const { data } = await call("POST", path("exams", examId, "lti", "roster-sync"));
    const { data: state } = await call("GET", path("exams", examId, "lti"));
    if (!exam || exam.exam_id !== examId) return;
    drawPanel(box, state, data.links);
    say(data.links.map(syncWords).join(" "));
    $("lti-sync").focus();
    await loadRoster(currentPage);
  }

  // The picker's second way: an exam just created (or opened) is chosen from its own page.
  function pickThis(data) {
    let button = $("lti-pick-this");
    const wanted = hosted() && sessionStorage[PICK] && (data.role === "owner" || data.role === "co_examiner");
    if (!wanted) { if (button) button.remove(); return; }
    if (!button) {
      button = el("button", { type: "button", id: "lti-pick-this" });
      button.addEventListener("click", () => attempt(() => place(exam.exam_id), { busy: button }));
      $("exam-window").after(button);
    }
    button.textContent = t("lti.pick.this", { course: course() });
  }

  // Drawn with the exam, quietly: what the examiner is being told (an alert) stays, and an exam
  // whose courses cannot be had now shows none.
  function fill(data) {
    pickThis(data);
    const button = panelButton();
    button.hidden = hosted() || !may(action("read"));
    if (hosted()) {
      header();
      panel(data).catch(() => {});
    } else if (panelFor !== data.exam_id) {
      panelBox().hidden = true;
      button.ariaExpanded = "false";
    }
  }

  // A roster row: made from the LMS, and whether the student has left the course.
  function row(student, tr) {
    const name = tr.querySelector("td.name");
    if (!name || !student.from_lms) return;
    const marks = [badge(t("lti.row.from-lms"), "lms")];
    if (student.left_course_at) marks.push(" ", badge(t("lti.row.left", { date: when(student.left_course_at) }), "left"));
    name.append(el("div", { className: "lti-marks" }, ...marks));
  }

  // --- registrations (signed in with a key) ------------------------------------------------

  function forms() {
    if (hosted() || $("lti-connections")) return;
    const open = el("button", { type: "button", id: "lti-open", className: "secondary", ariaExpanded: "false" }, t("lti.reg.open"));
    const home = el("div", { id: "lti-home" });
    open.addEventListener("click", () => attempt(async () => {
      if (open.ariaExpanded === "true") { home.replaceChildren(); open.ariaExpanded = "false"; return; }
      await registrations(home);
      open.ariaExpanded = "true";
    }, { busy: open }));
    $("create-exam").after(el("section", { id: "lti-connections" }, open, home));
  }

  function registrationItem(item) {
    const how = t(item.how === "dynamic" ? "lti.reg.how.dynamic" : "lti.reg.how.manual");
    const text = t("lti.reg.item", {
      platform: item.platform_name || item.issuer, client: item.client_id, how,
      deployments: item.deployment_ids.length ? item.deployment_ids.join(", ") : "–",
    });
    return el("li", {}, text, item.active ? "" : " ", item.active ? "" : badge(t("lti.reg.inactive"), "none"));
  }

  // The tool's addresses shown: those of the registration just made, else of the latest.
  async function registrations(home, tool) {
    const { data } = await call("GET", "lti/registrations");
    const heading = el("h3", { id: "lti-reg-title", tabIndex: -1 }, t("lti.reg.title"));
    const list = data.items.length
      ? el("ul", { id: "lti-registrations" }, ...data.items.map(registrationItem))
      : el("p", { id: "lti-registrations" }, t("lti.reg.none"));
    const connect = el("button", { type: "button", id: "lti-connect", className: "secondary" }, t("lti.reg.connect"));
    const byHand = el("button", { type: "button", id: "lti-by-hand", className: "secondary", ariaExpanded: "false" }, t("lti.reg.manual"));
    const offer = el("div", { id: "lti-offer" });
    connect.addEventListener("click", () => attempt(() => offerUrl(offer), { near: connect, busy: connect }));
    byHand.addEventListener("click", () => {
      const open = byHand.ariaExpanded === "true";
      byHand.ariaExpanded = String(!open);
      if (open) { $("lti-manual").remove(); return; }
      const form = manualForm(home);
      byHand.after(form);
      form.querySelector("input").focus();
    });
    const shown = tool || (data.items[0] && data.items[0].tool);
    home.replaceChildren(heading, el("p", { className: "hint" }, t("lti.reg.intro")), list,
      el("div", { className: "row toolbar" }, connect, byHand), offer, ...(shown ? [toolUrls(shown)] : []));
    heading.focus();
  }

  async function offerUrl(offer) {
    const { data } = await call("POST", "lti/registrations/dynamic");
    const url = el("input", { id: "lti-offer-url", readOnly: true, value: data.registration_url, className: "mono" });
    url.setAttribute("aria-labelledby", "lti-offer-label");
    const copy = el("button", { type: "button", className: "secondary" }, t("lti.reg.copy"));
    copy.addEventListener("click", async () => {
      try { await navigator.clipboard.writeText(data.registration_url); say(t("lti.reg.copied")); } catch (err) { url.select(); }
    });
    offer.replaceChildren(el("p", { id: "lti-offer-label" }, t("lti.reg.url")), url, " ", copy);
    url.focus();
    url.select();
  }

  const FIELDS = [
    ["issuer", "lti.reg.issuer"], ["client_id", "lti.reg.client-id"], ["auth_login_url", "lti.reg.auth-login-url"],
    ["auth_token_url", "lti.reg.auth-token-url"], ["key_set_url", "lti.reg.key-set-url"], ["auth_audience", "lti.reg.auth-audience"],
  ];

  function manualForm(home) {
    const inputs = {};
    const rows = FIELDS.map(([name, key]) => {
      inputs[name] = el("input", { id: `lti-${name}`, name, autocomplete: "off", spellcheck: false, required: name !== "auth_audience" });
      return [el("label", { htmlFor: `lti-${name}` }, t(key)), inputs[name]];
    }).flat();
    const deployments = el("textarea", { id: "lti-deployment_ids", rows: 2, required: true, spellcheck: false });
    const save = el("button", { type: "submit" }, t("lti.reg.save"));
    const form = el("form", { id: "lti-manual", noValidate: true }, el("p", { className: "hint" }, t("lti.reg.manual-intro")),
      ...rows.slice(0, 4), el("label", { htmlFor: "lti-deployment_ids" }, t("lti.reg.deployment-ids")), deployments, ...rows.slice(4), save);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      attempt(async () => {
        const json = { deployment_ids: deployments.value.split(/\s+/).filter(Boolean) };
        for (const [name] of FIELDS) if (inputs[name].value.trim()) json[name] = inputs[name].value.trim();
        const { data } = await call("POST", "lti/registrations", { json });
        await registrations(home, data.tool);
        say(t("lti.reg.saved", { platform: data.platform_name || data.issuer }));
      }, { near: form, busy: save });
    });
    return form;
  }

  // What the LMS needs of this tool, to paste into its registration form.
  function toolUrls(tool) {
    const facts = TOOL.filter((name) => tool[name]).map((name) => {
      const value = Array.isArray(tool[name]) ? tool[name].join("\n") : tool[name];
      return fact(t(`lti.tool.${name}`), el("span", { className: "mono wrap" }, value));
    }).flat();
    return el("div", { id: "lti-tool" }, el("p", {}, t("lti.reg.tool")), el("dl", { className: "facts" }, ...facts));
  }

  const nothing = () => {};
  return { land, forms, fill, row, banner: nothing, student: nothing, fields: () => ({}) };
})();
