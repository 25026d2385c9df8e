// Every page's way through a busy or starting service: a request the service could not take now
// is sent again after a wait, and the person reads "busy, retrying", never an error.
//
// What is retried: only what says nothing was done, and what the caller may repeat. Nothing was
// done after a 503 or 429 whose problem type is `…:service-busy` (the database is full, or the
// function is throttled and never ran: API Gateway's INTEGRATION_FAILURE and THROTTLED answers),
// `…:service-starting` (the database is resuming from a pause) or `…:service-credentials` (the
// database refused a password rotated a moment ago), nor after S3's 503 `SlowDown`: any request is
// sent again then, and the person reads "busy". Any other 503 (`…:service-unavailable`: a dependency failed, perhaps
// after a commit, as an export whose row was made before its queue failed), a 504 (an integration
// timeout) and a network failure may come after the work was done: only a request the caller
// marks `repeatable` is sent again then. Any other 429 is an answer, never retried: a refusal of
// ours (`…:too-many-open-forms`), a key's quota used up (`…:quota-exceeded`, or an untyped 429
// from API Gateway), which no wait within the bound would mend.
//
// How long: exponential backoff with full jitter (a class that failed together must not retry
// together), added to the service's Retry-After (a floor the whole class was given alike: waiting
// exactly that would bring them back in step), and bounded: after `budgetMs` in all, or
// `maxAttempts` requests, the caller tells the person what to do. A Retry-After that reaches past
// the budget ends the retries at once with its time, rather than a silent wait.
"use strict";
const serviceRetry = (() => {
  const settings = {
    budgetMs: 120000,
    maxAttempts: 10,
    baseMs: 1000,
    capMs: 30000,
    // A test makes the bound small by setting this before the page's scripts run.
    ...(window.serviceRetrySettings || {}),
  };
  // What it says, by key. The console reads these English words; the student's and reviewer's
  // pages give their catalogue's (i18n.js calls `useWords`), which holds the same keys, the same
  // English included.
  const ENGLISH = {
    "retry.waiting.busy": "The service is busy — retrying in {time}…",
    "retry.waiting.starting": "The service is starting up — retrying in {time}…",
    "retry.waiting.network": "The connection dropped — retrying in {time}…",
    "retry.seconds": "{count} s",
    "retry.minutes": "{count} minutes",
    "retry.advice.busy": "The service is still busy. Try again {later}.",
    "retry.advice.starting": "The service is still starting up. Try again {later}.",
    "retry.advice.network": "The network failed. Check your connection, then try again.",
    "retry.later.soon": "in a minute or two",
    "retry.later.about": "in about {time}",
  };
  let words = (key, params = {}) => ENGLISH[key].replace(/\{(\w+)\}/g, (placeholder, name) => String(params[name]));
  const WAITING = {
    busy: "retry.waiting.busy",
    starting: "retry.waiting.starting",
    network: "retry.waiting.network",
  };

  // What each answer that says nothing was done is waited out as, by its problem type's last part
  // (our API's, API Gateway's as the template words it) or S3's error code.
  const NOTHING_DONE = new Map([
    ["service-busy", "busy"],
    ["service-starting", "starting"],
    ["service-credentials", "busy"],
    ["SlowDown", "busy"],
  ]);

  // Why a result is worth another try, or null when it is an answer to act on.
  function transient(result, repeatable) {
    if (result.network) return repeatable ? "network" : null;
    const kind = (result.problemType || "").split(":").pop();
    if (result.status === 429) return NOTHING_DONE.get(kind) || null;
    if (result.status === 503) return NOTHING_DONE.get(kind) || (repeatable ? "busy" : null);
    if (result.status === 504) return repeatable ? "busy" : null;
    return null;
  }

  // Retry-After in ms: seconds (what the API and API Gateway send) or an HTTP date.
  function floorMs(retryAfter) {
    if (!retryAfter) return 0;
    if (/^\d+$/.test(retryAfter.trim())) return Number(retryAfter) * 1000;
    const at = Date.parse(retryAfter);
    return Number.isNaN(at) ? 0 : Math.max(0, at - Date.now());
  }

  function duration(ms) {
    const s = Math.max(1, Math.round(ms / 1000));
    return s < 120 ? words("retry.seconds", { count: s }) : words("retry.minutes", { count: Math.round(s / 60) });
  }

  // `once()` sends the request and resolves to { network } or { status, retryAfter, problemType
  // (the problem's `type`, or S3's error `Code`), ... }; `notice(text)` shows the live status while waiting and clears it once done. Resolves to
  // the last result; `gaveUp` on it says why it stopped ({ reason, waitMs }) when the bound did.
  async function run(once, { repeatable = false, notice = () => {} } = {}) {
    const started = Date.now();
    let waited = false;
    for (let attempt = 1; ; attempt += 1) {
      const result = await once();
      const reason = transient(result, repeatable);
      if (!reason) {
        if (waited) notice("");
        return result;
      }
      const ceiling = Math.min(settings.capMs, settings.baseMs * 2 ** (attempt - 1));
      const waitMs = floorMs(result.retryAfter) + Math.random() * ceiling;
      if (attempt >= settings.maxAttempts || Date.now() - started + waitMs > settings.budgetMs) {
        if (waited) notice("");
        return { ...result, gaveUp: { reason, waitMs } };
      }
      notice(words(WAITING[reason], { time: duration(waitMs) }));
      waited = true;
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }

  // A fetch through `run`: resolves to { response } or { network }, with `gaveUp` as above. The
  // caller reads the body; the problem type is read from a copy.
  function fetchRetrying(url, init, options) {
    return run(async () => {
      let response;
      try {
        response = await fetch(url, init);
      } catch (err) {
        return { network: true };
      }
      let problemType = null;
      if (!response.ok && /json/.test(response.headers.get("content-type") || "")) {
        problemType = ((await response.clone().json().catch(() => null)) || {}).type || null;
      }
      return { response, status: response.status, retryAfter: response.headers.get("retry-after"), problemType };
    }, options);
  }

  // What to do after the bound, in words (no "error": nothing is wrong with what the person did).
  function advice(gaveUp) {
    const later = gaveUp.waitMs > 60000
      ? words("retry.later.about", { time: duration(gaveUp.waitMs) })
      : words("retry.later.soon");
    if (gaveUp.reason === "starting") return words("retry.advice.starting", { later });
    if (gaveUp.reason === "network") return words("retry.advice.network");
    return words("retry.advice.busy", { later });
  }

  // A `notice` that shows the waiting in a live region and, once done, puts back what it said.
  function noticeIn(region) {
    let before = null;
    return (text) => {
      if (text && before === null) before = region.textContent;
      region.textContent = text || before || "";
      if (!text) before = null;
    };
  }

  // `translate(key, params)` gives the words from now on (a page's catalogue).
  function useWords(translate) {
    words = translate;
  }

  return { run, fetch: fetchRetrying, advice, noticeIn, useWords, settings };
})();
