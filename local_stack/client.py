"""The product over HTTP, as its users reach it: the one client of the end-to-end tests, the soak
and the deploy smoke test. Methods return `requests` responses; the ones named for a step that
must work (`create_student`, `form`, `hand_in`) check it and return its JSON."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import requests

TIMEOUT_S = 30


@dataclass
class ApiClient:
    api: str  # the stage root: http://127.0.0.1:3000, or https://.../v1
    key: str | None = None  # an examiner's API key
    session: requests.Session = field(default_factory=requests.Session)

    def url(self, path: str) -> str:
        return f"{self.api.rstrip('/')}/{path.lstrip('/')}"

    def _examiner(self, headers: dict[str, str] | None = None) -> dict[str, str]:
        assert self.key is not None, "an examiner route needs the client's key"
        return {"x-api-key": self.key, **(headers or {})}

    # --- examiner ------------------------------------------------------------------------

    def post_student(self, nickname: str, first_name: str = "Zoë", last_name: str = "O'Brien") -> requests.Response:
        body = {"nickname": nickname, "first_name": first_name, "last_name": last_name}
        return self.session.post(self.url("students"), json=body, headers=self._examiner(), timeout=TIMEOUT_S)

    def create_student(self, nickname: str, first_name: str = "Zoë", last_name: str = "O'Brien") -> dict[str, Any]:
        response = self.post_student(nickname, first_name, last_name)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def student(self, nickname: str) -> requests.Response:
        return self.session.get(self.url(f"students/{nickname}"), headers=self._examiner(), timeout=TIMEOUT_S)

    def students(self, limit: int = 100) -> requests.Response:
        return self.session.get(self.url(f"students?limit={limit}"), headers=self._examiner(), timeout=TIMEOUT_S)

    def delete_student(self, nickname: str) -> requests.Response:
        return self.session.delete(self.url(f"students/{nickname}"), headers=self._examiner(), timeout=TIMEOUT_S)

    # --- student -------------------------------------------------------------------------

    def presign(
        self, upload_code: str, filename: str = "answers.pdf", content_type: str = "application/pdf"
    ) -> requests.Response:
        body = {"filename": filename, "content_type": content_type}
        return self.session.post(self.url(f"submissions/{upload_code}"), json=body, timeout=TIMEOUT_S)

    def form(self, upload_code: str, filename: str = "answers.pdf", content_type: str = "application/pdf") -> Any:
        response = self.presign(upload_code, filename, content_type)
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

    def hand_in(self, upload_code: str, content: bytes, filename: str = "answers.pdf") -> dict[str, Any]:
        """Presign, POST to S3, wait for the record: the student's whole path; returns the progress."""
        form = self.form(upload_code, filename)
        posted = self.post_form(form, content, filename=filename)
        assert posted.status_code in (200, 201, 204), posted.text
        return self.wait_until_settled(upload_code, form["upload_id"])

    # --- reviewer ------------------------------------------------------------------------

    def verification(self, code: str) -> requests.Response:
        return self.session.get(self.url(f"verifications/{code}"), timeout=TIMEOUT_S)

    def download_link(self, code: str) -> requests.Response:
        return self.session.get(self.url(f"verifications/{code}/download_url"), timeout=TIMEOUT_S)

    def download(self, code: str) -> bytes:
        link = self.download_link(code)
        assert link.status_code == 200, link.text
        response = self.session.get(link.json()["url"], timeout=TIMEOUT_S)
        assert response.status_code == 200, response.text
        return response.content
