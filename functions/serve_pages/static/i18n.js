// The student's and the reviewer's words, in the reader's language: every word of those pages comes
// from a catalogue (static/i18n-<language>.json, flat keys to strings with `{name}` placeholders).
// The language is the one the reader chose on the page (remembered in this browser), else the first
// of the browser's languages we have, else English; dates and numbers follow the browser's own
// locale for that language (en-GB writes 3 June, en-US June 3), through Intl.
//
// The HTML carries the English words too, so the page reads before its catalogue arrives: an
// element's `data-i18n` names its key; a `{name}` in a key's text is filled by the element's own
// child marked `data-slot="name"` (an example code).
"use strict";
const i18n = (() => {
  // The languages there is a catalogue of, each named in its own language on the switch.
  const LANGUAGES = { en: "English", de: "Deutsch", fr: "Français" };
  const STORED = "exam-depository-language";
  const base = document.body.dataset.api;
  let language = "en";
  let locale = "en";
  let words = {};
  let english = null; // the English catalogue: the words a catalogue cached before a release lacks
  const changed = [];
  const slots = new WeakMap(); // an element's slot children, kept from its first rendering

  function stored() {
    try {
      return window.localStorage.getItem(STORED);
    } catch (err) {
      return null; // storage refused (a private window's policy): the browser's language then
    }
  }
  function remember(chosen) {
    try {
      window.localStorage.setItem(STORED, chosen);
    } catch (err) {
      // Not remembered: the choice holds for this visit.
    }
  }
  const primary = (tag) => String(tag).toLowerCase().split("-")[0];
  function browserLanguages() {
    return navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
  }
  function preferred() {
    const chosen = stored();
    if (chosen && LANGUAGES[chosen]) return chosen;
    const found = browserLanguages().map(primary).find((tag) => LANGUAGES[tag]);
    return found || "en";
  }
  // The browser's own tag for the language when it has one (en-GB, de-AT), for Intl.
  function localeOf(chosen) {
    return browserLanguages().find((tag) => primary(tag) === chosen) || chosen;
  }

  // A catalogue, through retry.js like every request of the pages (a busy service is waited out).
  async function catalogue(chosen) {
    const sent = await serviceRetry.fetch(`${base}static/i18n-${chosen}.json`, {}, { repeatable: true });
    if (sent.gaveUp || sent.status !== 200) return null;
    return sent.response.json().catch(() => null);
  }

  function t(key, params = {}) {
    const text = words[key] ?? (english && english[key]) ?? key;
    return text.replace(/\{(\w+)\}/g, (placeholder, name) => (Object.hasOwn(params, name) ? String(params[name]) : placeholder));
  }
  // The plural form of `key` for `count` (`key.one`, `key.other`, …: the forms Intl.PluralRules
  // names for the language), with `count` among the params.
  function plural(key, count, params = {}) {
    const form = new Intl.PluralRules(locale).select(count);
    const chosen = words[`${key}.${form}`] !== undefined ? `${key}.${form}` : `${key}.other`;
    return t(chosen, { count: number(count), ...params });
  }
  // A key's text into `element`, its placeholders filled with text or with nodes (never as HTML:
  // names and file names are other people's data).
  function render(element, key, params = {}) {
    const parts = t(key).split(/\{(\w+)\}/);
    element.replaceChildren(...parts.map((part, i) => {
      if (i % 2 === 0) return part;
      const value = params[part];
      if (value instanceof Node) return value;
      return value === undefined || value === null ? `{${part}}` : String(value);
    }));
  }

  function apply() {
    document.documentElement.lang = language;
    for (const element of document.querySelectorAll("[data-i18n]")) {
      if (!slots.has(element)) {
        slots.set(element, Object.fromEntries(
          Array.from(element.querySelectorAll("[data-slot]"), (slot) => [slot.dataset.slot, slot]),
        ));
      }
      render(element, element.dataset.i18n, slots.get(element));
    }
  }

  // --- what a page says, kept so that the switch says it again ---------------------------------
  // A message is a function of the language: the catalogue's words (`params` may be a function,
  // read each time it is said: a time formatted in the language of the moment), or a text of the
  // API's own (its problems are in English: marked so, a screen reader says it in English).
  const message = (key, params) => () => t(key, typeof params === "function" ? params() : params);
  const apiMessage = (text) => () => ({ text, lang: "en" });
  // A problem a page has no words of its own for: the API's, else ours.
  function problemMessage(data) {
    const text = data && (data.detail || data.title);
    return text ? apiMessage(text) : message("common.our-side");
  }
  function show(element, said) {
    const text = said ? said() : "";
    if (typeof text === "string") {
      element.textContent = text;
      element.removeAttribute("lang");
    } else {
      element.textContent = text.text;
      element.lang = text.lang;
    }
  }

  // --- formatting, for the chosen language --------------------------------------------------
  function number(value, options = {}) {
    return new Intl.NumberFormat(locale, options).format(value);
  }
  // An instant, in `zone` (the browser's own when none), with the zone's short name.
  function date(iso, { zone, weekday = false, seconds = false } = {}) {
    return new Intl.DateTimeFormat(locale, {
      ...(weekday ? { weekday: "short" } : {}),
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
      ...(seconds ? { second: "2-digit" } : {}),
      timeZone: zone, timeZoneName: "short",
    }).format(new Date(iso));
  }
  // The time of day of an instant in `zone`, hours and minutes, with the zone ("14:45 CET").
  function timeOfDay(iso, zone) {
    return new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit", timeZone: zone, timeZoneName: "short" })
      .format(new Date(iso));
  }
  // A file's size as people read it: "176 KiB", "1.5 MiB" (in the language's units and digits).
  function size(bytes) {
    if (bytes < 1024 * 1024) return t("size.kib", { count: number(Math.max(1, Math.round(bytes / 1024))) });
    return t("size.mib", { count: number(bytes / 1024 / 1024, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) });
  }

  // --- the language switch --------------------------------------------------------------------
  // Resolves false when the language's catalogue cannot be had. Choices follow one another faster
  // than catalogues may come (the arrow keys on the switch pass through every language on the
  // way): the last choice is the one read, whatever order their catalogues arrive in.
  let choices = 0;
  async function use(chosen) {
    const choice = ++choices;
    const [loaded, fallback] = await Promise.all([
      catalogue(chosen), chosen === "en" || english ? null : catalogue("en"),
    ]);
    if (choice !== choices) return true; // a later choice decides
    if (!loaded) return false; // the page stays in the language it reads in now
    english = chosen === "en" ? loaded : fallback || english;
    words = loaded;
    language = chosen;
    locale = localeOf(chosen);
    apply();
    for (const select of document.querySelectorAll("[data-language-switch]")) select.value = chosen;
    for (const listener of changed) listener();
    return true;
  }

  function offerSwitch() {
    for (const select of document.querySelectorAll("[data-language-switch]")) {
      select.replaceChildren(...Object.entries(LANGUAGES).map(([tag, name]) => {
        const option = document.createElement("option");
        option.value = tag;
        option.lang = tag;
        option.textContent = name;
        return option;
      }));
      select.value = language;
      select.addEventListener("change", async () => {
        remember(select.value);
        await use(select.value);
      });
    }
  }

  offerSwitch();
  serviceRetry.useWords(t); // "busy, retrying in 4 s…" in the reader's language too
  // A language whose catalogue cannot be had (after retry.js's waits) gives way to English.
  const first = preferred();
  const ready = use(first).then((used) => (used || first === "en" ? used : use("en")));

  return {
    ready,
    t,
    plural,
    render,
    number,
    date,
    timeOfDay,
    size,
    message,
    problemMessage,
    show,
    onChange: (listener) => changed.push(listener),
  };
})();
