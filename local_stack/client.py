"""The product over HTTP, as its users reach it: the one client of the end-to-end tests, the soak
and the deploy smoke test. Methods return `requests` responses; the ones named for a step that
must work (`create_exam`, `create_student`, `form`, `hand_in`) check it and return its JSON."""

from __future__ import annotations

import email.policy
import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

# A guard against a hang, not a time budget: 20 requests at once to a fresh deployment in
# MiniStack start 20 execution environments on 2 cores, and on a slower machine the last ones
# answered after more than 30 s (the deployed suite's warm-up race).
TIMEOUT_S = 120


class _RetryWhatWasNotDone(Retry):
    """Retry as the pages do: a GET after any 503 (and a 429 with Retry-After), another method only
    when the answer says nothing was done. Without reading the body, that is Retry-After: the API sends it only with
    `service-busy`, `service-starting` and `service-credentials` (the database refused before the
    work began: full, resuming, or refusing a password rotated a moment ago) and API Gateway with
    its throttles (the function never ran); a 503 `service-unavailable` has none, as it may come
    after a commit (an export made, then its queue failed), and sending that again would do it
    twice."""

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() != "GET" and not has_retry_after:
            return False
        return bool(super().is_retry(method, status_code, has_retry_after))


def _retrying_session() -> requests.Session:
    """A session that does what the pages do with a service that cannot serve now (busy, starting
    up: the function at its concurrency, the database full or resuming): it asks again after
    Retry-After."""
    session = requests.Session()
    retry = _RetryWhatWasNotDone(
        total=10,
        connect=0,
        read=0,
        status=10,
        status_forcelist=(503,),
        allowed_methods=None,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


@dataclass
class ApiClient:
    api: str  # the stage root: http://127.0.0.1:3000, or https://.../v1
    key: str | None = None  # an examiner's API key
    session: requests.Session = field(default_factory=_retrying_session)

    def url(self, path: str) -> str:
        return f"{self.api.rstrip('/')}/{path.lstrip('/')}"

    def _examiner(self, headers: dict[str, str] | None = None) -> dict[str, str]:
        assert self.key is not None, "an examiner route needs the client's key"
        return {"x-api-key": self.key, **(headers or {})}

    # --- examiner ------------------------------------------------------------------------

    def post_exam(self, body: dict[str, Any]) -> requests.Response:
        return self.session.post(self.url("exams"), json=body, headers=self._examiner(), timeout=TIMEOUT_S)

    def create_exam(
        self,
        exam_id: str,
        *,
        opens_in_s: float = -60,
        due_in_s: float = 3600,
        cutoff_in_s: float | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """An exam whose window is relative to now (by default open, due in an hour, no late uploads)."""
        now = datetime.now(UTC)
        body = {
            "exam_id": exam_id,
            "title": fields.pop("title", f"Exam {exam_id}"),
            "opens_at": (now + timedelta(seconds=opens_in_s)).isoformat(),
            "due_at": (now + timedelta(seconds=due_in_s)).isoformat(),
            "cutoff_at": (now + timedelta(seconds=due_in_s if cutoff_in_s is None else cutoff_in_s)).isoformat(),
            "timezone": fields.pop("timezone", "Europe/Paris"),
            **fields,
        }
        response = self.post_exam(body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def exam(self, exam_id: str) -> requests.Response:
        return self.session.get(self.url(f"exams/{exam_id}"), headers=self._examiner(), timeout=TIMEOUT_S)

    def exams(self, limit: int = 50, cursor: str | None = None) -> requests.Response:
        query = f"exams?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        return self.session.get(self.url(query), headers=self._examiner(), timeout=TIMEOUT_S)

    def patch_exam(self, exam_id: str, changes: dict[str, Any]) -> requests.Response:
        return self.session.patch(
            self.url(f"exams/{exam_id}"), json=changes, headers=self._examiner(), timeout=TIMEOUT_S
        )

    def close_exam(self, exam_id: str) -> requests.Response:
        return self.session.post(self.url(f"exams/{exam_id}/close"), headers=self._examiner(), timeout=TIMEOUT_S)

    def delete_exam(self, exam_id: str) -> requests.Response:
        return self.session.delete(self.url(f"exams/{exam_id}"), headers=self._examiner(), timeout=TIMEOUT_S)

    def post_student(
        self, exam_id: str, nickname: str, first_name: str = "Zoë", last_name: str = "O'Brien"
    ) -> requests.Response:
        body = {"nickname": nickname, "first_name": first_name, "last_name": last_name}
        return self.session.post(
            self.url(f"exams/{exam_id}/students"), json=body, headers=self._examiner(), timeout=TIMEOUT_S
        )

    def create_student(
        self, exam_id: str, nickname: str, first_name: str = "Zoë", last_name: str = "O'Brien"
    ) -> dict[str, Any]:
        response = self.post_student(exam_id, nickname, first_name, last_name)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def import_roster(self, exam_id: str, csv_text: str) -> requests.Response:
        return self.session.post(
            self.url(f"exams/{exam_id}/students/import"),
            data=csv_text.encode(),
            headers=self._examiner({"Content-Type": "text/csv"}),
            timeout=TIMEOUT_S,
        )

    def roster_csv(self, exam_id: str) -> requests.Response:
        return self.session.get(
            self.url(f"exams/{exam_id}/students"), headers=self._examiner({"Accept": "text/csv"}), timeout=TIMEOUT_S
        )

    def students(
        self, exam_id: str, limit: int = 100, cursor: str | None = None, status: str | None = None
    ) -> requests.Response:
        query = {"limit": str(limit)} | ({"cursor": cursor} if cursor else {}) | ({"status": status} if status else {})
        return self.session.get(
            self.url(f"exams/{exam_id}/students"), params=query, headers=self._examiner(), timeout=TIMEOUT_S
        )

    def student(self, exam_id: str, nickname: str) -> requests.Response:
        return self.session.get(
            self.url(f"exams/{exam_id}/students/{nickname}"), headers=self._examiner(), timeout=TIMEOUT_S
        )

    def delete_student(self, exam_id: str, nickname: str) -> requests.Response:
        return self.session.delete(
            self.url(f"exams/{exam_id}/students/{nickname}"), headers=self._examiner(), timeout=TIMEOUT_S
        )

    def put_extension(self, exam_id: str, nickname: str, extension: dict[str, Any]) -> requests.Response:
        return self.session.put(
            self.url(f"exams/{exam_id}/students/{nickname}/extension"),
            json=extension,
            headers=self._examiner(),
            timeout=TIMEOUT_S,
        )

    def delete_extension(self, exam_id: str, nickname: str) -> requests.Response:
        return self.session.delete(
            self.url(f"exams/{exam_id}/students/{nickname}/extension"), headers=self._examiner(), timeout=TIMEOUT_S
        )

    def import_extensions(self, exam_id: str, csv_text: str) -> requests.Response:
        return self.session.post(
            self.url(f"exams/{exam_id}/extensions/import"),
            data=csv_text.encode(),
            headers=self._examiner({"Content-Type": "text/csv"}),
            timeout=TIMEOUT_S,
        )

    def put_accommodation(self, exam_id: str, nickname: str, accommodation: dict[str, Any]) -> requests.Response:
        return self.session.put(
            self.url(f"exams/{exam_id}/students/{nickname}/accommodation"),
            json=accommodation,
            headers=self._examiner(),
            timeout=TIMEOUT_S,
        )

    def import_accommodations(self, exam_id: str, csv_text: str) -> requests.Response:
        return self.session.post(
            self.url(f"exams/{exam_id}/accommodations/import"),
            data=csv_text.encode(),
            headers=self._examiner({"Content-Type": "text/csv"}),
            timeout=TIMEOUT_S,
        )

    def paper_form(self, exam_id: str, filename: str | None = None, sha256: str | None = None) -> requests.Response:
        """The form for the exam's question paper (a PDF), to POST with `post_form` as a student's."""
        body = ({"filename": filename} if filename else {}) | ({"sha256": sha256} if sha256 else {})
        return self.session.post(
            self.url(f"exams/{exam_id}/paper"), json=body, headers=self._examiner(), timeout=TIMEOUT_S
        )

    def new_upload_code(self, exam_id: str, nickname: str) -> requests.Response:
        return self.session.post(
            self.url(f"exams/{exam_id}/students/{nickname}/upload_code"), headers=self._examiner(), timeout=TIMEOUT_S
        )

    # --- an exam's members and its audit log ----------------------------------------------

    def send_codes(
        self, exam_id: str, nicknames: list[str] | None = None, *, resend: bool = False
    ) -> requests.Response:
        """Email students their upload codes: all not yet invited, or `nicknames` (again with `resend`)."""
        body: dict[str, Any] = {"resend": resend} | ({"nicknames": nicknames} if nicknames is not None else {})
        return self.session.post(
            self.url(f"exams/{exam_id}/students/send-codes"), json=body, headers=self._examiner(), timeout=TIMEOUT_S
        )

    def change_email(self, exam_id: str, nickname: str, email: str | None) -> requests.Response:
        return self.session.put(
            self.url(f"exams/{exam_id}/students/{nickname}/email"),
            json={"email": email},
            headers=self._examiner(),
            timeout=TIMEOUT_S,
        )

    def invite(self, exam_id: str, role: str, label: str | None = None) -> requests.Response:
        body = {"role": role} | ({"label": label} if label is not None else {})
        return self.session.post(
            self.url(f"exams/{exam_id}/members/invitations"), json=body, headers=self._examiner(), timeout=TIMEOUT_S
        )

    def redeem(self, invitation_code: str) -> requests.Response:
        """Join an exam with an invitation's code, as this client's key."""
        return self.session.post(
            self.url(f"members/invitations/{invitation_code}"), headers=self._examiner(), timeout=TIMEOUT_S
        )

    def join(self, inviter: ApiClient, exam_id: str, role: str) -> dict[str, Any]:
        """Become a member of `inviter`'s exam with `role`; returns the exam as this key sees it."""
        invited = inviter.invite(exam_id, role)
        assert invited.status_code == 201, invited.text
        joined = self.redeem(invited.json()["invitation_code"])
        assert joined.status_code == 200, joined.text
        return dict(joined.json())

    def members(self, exam_id: str) -> requests.Response:
        return self.session.get(self.url(f"exams/{exam_id}/members"), headers=self._examiner(), timeout=TIMEOUT_S)

    def change_member(self, exam_id: str, member_id: str, changes: dict[str, Any]) -> requests.Response:
        return self.session.patch(
            self.url(f"exams/{exam_id}/members/{member_id}"), json=changes, headers=self._examiner(), timeout=TIMEOUT_S
        )

    def remove_member(self, exam_id: str, member_id: str) -> requests.Response:
        return self.session.delete(
            self.url(f"exams/{exam_id}/members/{member_id}"), headers=self._examiner(), timeout=TIMEOUT_S
        )

    def audit(self, exam_id: str, **query: str) -> requests.Response:
        return self.session.get(
            self.url(f"exams/{exam_id}/audit"), params=query, headers=self._examiner(), timeout=TIMEOUT_S
        )

    # --- student -------------------------------------------------------------------------

    def start(self, upload_code: str) -> requests.Response:
        """Start the student's clock in a timed exam (again: the same start)."""
        return self.session.post(self.url(f"submissions/{upload_code}/start"), timeout=TIMEOUT_S)

    def paper_link(self, upload_code: str) -> requests.Response:
        return self.session.get(self.url(f"submissions/{upload_code}/paper"), timeout=TIMEOUT_S)

    def presign(
        self,
        upload_code: str,
        filename: str = "answers.pdf",
        content_type: str = "application/pdf",
        sha256: str | None = None,
    ) -> requests.Response:
        body = {"filename": filename, "content_type": content_type} | ({"sha256": sha256} if sha256 else {})
        return self.session.post(self.url(f"submissions/{upload_code}"), json=body, timeout=TIMEOUT_S)

    def form(
        self,
        upload_code: str,
        filename: str = "answers.pdf",
        content_type: str = "application/pdf",
        sha256: str | None = None,
    ) -> Any:
        response = self.presign(upload_code, filename, content_type, sha256)
        assert response.status_code == 201, response.text
        return response.json()

    def post_form(
        self, form: dict[str, Any], content: bytes, fields: dict[str, str] | None = None, filename: str = "answers.pdf"
    ) -> requests.Response:
        """What a browser does: every field, then the file last, as multipart/form-data, straight to S3."""
        return self.session.post(
            form["url"],
            data=fields if fields is not None else form["fields"],
            files={"file": (filename, content, form["fields"].get("Content-Type", "application/octet-stream"))},
            timeout=TIMEOUT_S,
        )

    def progress(self, upload_code: str) -> dict[str, Any]:
        response = self.session.get(self.url(f"submissions/{upload_code}"), timeout=TIMEOUT_S)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_until_settled(self, upload_code: str, upload_id: str, timeout_s: float = 30) -> dict[str, Any]:
        """Poll as the upload page does until the upload is recorded or rejected."""
        deadline = time.monotonic() + timeout_s
        while True:
            progress = self.progress(upload_code)
            state = next(u for u in progress["uploads"] if u["upload_id"] == upload_id)
            if state["status"] != "pending":
                return progress
            if time.monotonic() > deadline:
                raise TimeoutError(f"upload {upload_id} still pending after {timeout_s:.0f} s")
            time.sleep(0.2)

    def wait_until_scanned(self, upload_code: str, timeout_s: float = 30) -> dict[str, Any]:
        """Poll as the upload page does until the recorded file's malware scan has ended (a file
        recorded unscanned, `scan` null, has nothing to wait for)."""
        deadline = time.monotonic() + timeout_s
        while True:
            progress = self.progress(upload_code)
            if (progress.get("current") or {}).get("scan") != "scanning":
                return progress
            if time.monotonic() > deadline:
                raise TimeoutError(f"the file of {upload_code} still scanning after {timeout_s:.0f} s")
            time.sleep(0.2)

    def hand_in(
        self, upload_code: str, content: bytes, filename: str = "answers.pdf", *, until_scanned: bool = True
    ) -> dict[str, Any]:
        """Hash, presign, POST to S3, wait for the record and, unless told not to, for its malware
        scan: the student's whole path, as the page takes it; returns the progress."""
        form = self.form(upload_code, filename, sha256=hashlib.sha256(content).hexdigest())
        posted = self.post_form(form, content, filename=filename)
        assert posted.status_code in (200, 201, 204), posted.text
        progress = self.wait_until_settled(upload_code, form["upload_id"])
        recorded = next(u for u in progress["uploads"] if u["upload_id"] == form["upload_id"])
        if until_scanned and recorded["status"] == "recorded":
            return self.wait_until_scanned(upload_code)
        return progress

    def start_export(self, exam_id: str) -> requests.Response:
        return self.session.post(self.url(f"exams/{exam_id}/exports"), headers=self._examiner(), timeout=TIMEOUT_S)

    def export(self, exam_id: str, export_id: str) -> requests.Response:
        return self.session.get(
            self.url(f"exams/{exam_id}/exports/{export_id}"), headers=self._examiner(), timeout=TIMEOUT_S
        )

    def wait_for_export(self, exam_id: str, export_id: str, timeout_s: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.export(exam_id, export_id)
            assert state.status_code == 200, state.text
            if state.json()["status"] in ("done", "failed"):
                return dict(state.json())
            if time.monotonic() > deadline:
                raise TimeoutError(f"export {export_id} still {state.json()['status']} after {timeout_s:.0f} s")
            time.sleep(0.5)

    # --- reviewer ------------------------------------------------------------------------

    def verification(self, code: str) -> requests.Response:
        return self.session.get(self.url(f"verifications/{code}"), timeout=TIMEOUT_S)

    def download_link(self, code: str) -> requests.Response:
        return self.session.get(self.url(f"verifications/{code}/download_url"), timeout=TIMEOUT_S)

    def release(self, exam_id: str, upload_id: str, reason: str) -> requests.Response:
        """The exam's owner lets a file that could not be scanned be downloaded (audited)."""
        return self.session.post(
            self.url(f"exams/{exam_id}/submissions/{upload_id}/release"),
            json={"reason": reason},
            headers=self._examiner(),
            timeout=TIMEOUT_S,
        )

    def check_receipt(self, receipt: str) -> requests.Response:
        return self.session.post(self.url("receipts/verify"), json={"receipt": receipt}, timeout=TIMEOUT_S)

    def jwks(self) -> requests.Response:
        return self.session.get(self.url(".well-known/jwks.json"), timeout=TIMEOUT_S)

    def download(self, code: str) -> bytes:
        link = self.download_link(code)
        assert link.status_code == 200, link.text
        response = self.session.get(link.json()["url"], timeout=TIMEOUT_S)
        assert response.status_code == 200, response.text
        return response.content


@dataclass(frozen=True)
class Delivered:
    """One message in the local mailroom's mailbox: as the recipient's server got it."""

    number: int
    facts: dict[str, Any]  # ses_message_id, recipients, tags, configuration_set, received_at
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=email.policy.default).parsebytes(self.raw)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def tag(self) -> str:
        """Our tag `message`: the id of the message in the product's table."""
        return str(self.facts["tags"]["message"][0])


@dataclass
class MailClient:
    """What the local SES accepted (MiniStack's list of sent messages) and what its mailroom
    delivered (the mailbox folder, attachments and all): what the tests read of the mail."""

    emulator: str  # MiniStack's endpoint
    mailbox_dir: Path
    session: requests.Session = field(default_factory=requests.Session)

    def ses_messages(self) -> list[dict[str, Any]]:
        """Every message SES accepted since the emulator started (MessageId, To, Subject, BodyText, BodyHtml, ...)."""
        answer = self.session.get(f"{self.emulator.rstrip('/')}/_ministack/ses/messages", timeout=TIMEOUT_S)
        assert answer.status_code == 200, answer.text
        return [message for messages in answer.json()["messages"].values() for message in messages]

    def mailbox(self, to: str | None = None) -> list[Delivered]:
        """Every message delivered (to `to` only, if given), in the order the mailbox got them."""
        delivered = []
        for facts_file in sorted(self.mailbox_dir.glob("*.json"), key=lambda path: int(path.stem)):
            facts = json.loads(facts_file.read_text())
            if to is None or to.lower() in (address.lower() for address in facts["recipients"]):
                delivered.append(Delivered(int(facts_file.stem), facts, facts_file.with_suffix(".eml").read_bytes()))
        return delivered

    def wait_for_messages(self, n: int, *, to: str | None = None, timeout_s: float = 60) -> list[Delivered]:
        """At least `n` messages in the mailbox (to `to`), once they are there."""
        deadline = time.monotonic() + timeout_s
        while len(found := self.mailbox(to)) < n:
            assert time.monotonic() < deadline, (
                f"{n} message(s) to {to or 'anyone'} within {timeout_s:.0f} s: {len(found)}"
            )
            time.sleep(0.2)
        return found
