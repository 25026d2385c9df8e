"""The platform's side of the LTI client-side storage (1EdTech "LTI Client Side postMessages" and
its "Platform Storage" messages): a frame of the platform's course page, named as the login's
`lti_storage_target`, that keeps values for the tool's frame when the tool's own cookies are
blocked. lti1p3platform has none; the platform's server serves this page at PATH and puts
`frame_tag()` into a course page that offers storage.

What it answers, as the specification says, each reply posted back to the sender's window at the
sender's origin and carrying the request's `message_id`:
- `lti.capabilities` → `lti.capabilities.response` with `supported_messages` (this frame's name on
  the storage messages);
- `lti.put_data` {key, value} → `lti.put_data.response` {key, value}, kept **per sender origin**: a
  frame of another origin never reads it;
- `lti.get_data` {key} → `lti.get_data.response` {key, value}, or an `error` {code, message} when
  nothing is kept for that origin and key;
- any other `lti.*` subject → its `.response` with the error `unsupported_subject`; a message that
  is no object, or has no subject or message_id, is ignored.

What it cannot prove: that a real LMS's frame (Canvas's, Brightspace's, Moodle's) behaves the same
(each keeps its values where and as long as it likes), nor anything of Safari, whose storage
partitioning the tests only simulate by dropping the tool's cookies.
"""

from __future__ import annotations

import html

FRAME_NAME = "post_message_forwarding"  # the `lti_storage_target` a course page with storage sends
PATH = "/lti/storage-frame"

# Every message received and every reply, in order (`window.ltiStorageLog`): what the tests read.
_SCRIPT = """
"use strict";
const FRAME = %(frame)s;
const kept = new Map(); // origin -> Map(key -> value)
const log = [];
window.ltiStorageLog = log;
function reply(event, answer) {
  const message = { subject: `${event.data.subject}.response`, message_id: event.data.message_id, ...answer };
  log.push({ origin: event.origin, received: event.data, replied: message });
  event.source.postMessage(message, event.origin);
}
const error = (code, message) => ({ error: { code, message } });
window.addEventListener("message", (event) => {
  const data = event.data;
  if (typeof data !== "object" || data === null || typeof data.subject !== "string" || !data.message_id) return;
  const mine = kept.get(event.origin) || new Map();
  if (data.subject === "lti.capabilities") {
    reply(event, { supported_messages: [
      { subject: "lti.capabilities" },
      { subject: "lti.put_data", frame: FRAME },
      { subject: "lti.get_data", frame: FRAME },
    ] });
  } else if (data.subject === "lti.put_data") {
    if (typeof data.key !== "string" || !data.key || typeof data.value !== "string") {
      reply(event, error("bad_request", "put_data needs a key and a value"));
      return;
    }
    mine.set(data.key, data.value);
    kept.set(event.origin, mine);
    reply(event, { key: data.key, value: data.value });
  } else if (data.subject === "lti.get_data") {
    if (!mine.has(data.key)) {
      reply(event, { key: data.key, ...error("bad_request", "no value is kept for this key") });
      return;
    }
    reply(event, { key: data.key, value: mine.get(data.key) });
  } else if (data.subject.startsWith("lti.") && !data.subject.endsWith(".response")) {
    reply(event, error("unsupported_subject", `${data.subject} is not supported`));
  }
});
"""


def page() -> bytes:
    """The frame's page (text/html), served by the platform at PATH on its own origin."""
    script = _SCRIPT % {"frame": f'"{FRAME_NAME}"'}
    document = (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>Platform storage</title></head>"
        f"<body><script>{script}</script></body></html>\n"
    )
    return document.encode()


def frame_tag(platform_origin: str) -> str:
    """The hidden frame a course page holds beside the tool's frame, named as the login's storage target."""
    source = html.escape(f"{platform_origin}{PATH}", quote=True)
    return f'<iframe name="{FRAME_NAME}" src="{source}" title="Platform storage" hidden></iframe>'
