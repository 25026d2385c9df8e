"""The pages and the API's documentation (serve_pages, serve_docs), invoked in-process: each page
self-contained under a strict CSP, the docs served from the project, none sniffed, none sending a
referrer."""

from __future__ import annotations

import re

import pytest

from tests.integration.conftest import Api

_BUCKET_ORIGIN = "https://exam-depository-test-submissions.s3.eu-west-1.amazonaws.com"


@pytest.mark.parametrize(
    ("path", "script", "connect_src"),
    [
        ("/", "upload.js", f"'self' {_BUCKET_ORIGIN}"),  # the one place the student's file goes
        ("/verify", "verify.js", "'self'"),
        # The key goes to the API alone (the console's requests carry it); the question paper straight
        # to the bucket, with its form's fields and nothing else.
        ("/examiner", "examiner.js", f"'self' {_BUCKET_ORIGIN}"),
    ],
)
def test_the_pages_are_self_contained_under_a_strict_csp(api: Api, path: str, script: str, connect_src: str) -> None:
    response = api.page(path, stage="v1")

    assert response.status == 200
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "default-src 'none'" in csp
    assert f"connect-src {connect_src};" in csp
    # Links follow the stage; the retries first, then the words (the console's are English alone).
    scripts = re.findall(r'<script src="([^"]+)"></script>', response.body)
    words = ["/v1/static/i18n.js"] if script != "examiner.js" else []
    assert scripts == ["/v1/static/retry.js", *words, f"/v1/static/{script}"]
    assert "<script>" not in response.body  # no inline script
    # The console's team parts (members, invitations, the audit log) load when first opened, its
    # files' part (accepted types, malware checks, release) once signed in.
    later = ["team.js", "files.js", "lti.js"] if script == "examiner.js" else []
    for asset in ("app.css", "retry.js", "i18n.js", script, *later):
        served = api.page(f"/static/{asset}")
        assert served.status == 200
        assert "http" not in served.body.replace("http://www.w3.org", "")  # no CDN, no font service
    assert api.page("/static/secrets.json").status == 404


def _directives(csp: str) -> dict[str, str]:
    return {name: value.strip() for name, _, value in (part.strip().partition(" ") for part in csp.split(";"))}


@pytest.mark.parametrize("path", ["/", "/examiner"])
def test_only_a_page_opened_from_a_course_may_be_framed_and_post_back_to_it(
    api: Api, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = _directives(api.page(path).headers["Content-Security-Policy"])
    other = _directives(api.page(path, query={"lti": "yes"}).headers["Content-Security-Policy"])
    framed = _directives(api.page(path, query={"lti": "1"}).headers["Content-Security-Policy"])
    monkeypatch.setenv("LTI_ALLOW_LOOPBACK", "true")
    tested = _directives(api.page(path, query={"lti": "1"}).headers["Content-Security-Policy"])

    assert (alone["frame-ancestors"], alone["form-action"]) == ("'none'", "'none'")
    assert other == alone
    assert (framed["frame-ancestors"], framed["form-action"]) == ("https:", "'self' https:")
    assert {name: value for name, value in framed.items() if name not in ("frame-ancestors", "form-action")} == {
        name: value for name, value in alone.items() if name not in ("frame-ancestors", "form-action")
    }
    assert tested["frame-ancestors"] == "https: http://localhost:* http://127.0.0.1:*"
    assert tested["form-action"] == "'self' https: http://localhost:* http://127.0.0.1:*"


def test_the_reviewer_page_is_never_framed(api: Api) -> None:
    csp = _directives(api.page("/verify", query={"lti": "1"}).headers["Content-Security-Policy"])

    assert (csp["frame-ancestors"], csp["form-action"]) == ("'none'", "'none'")


@pytest.mark.parametrize("language", ["en", "de", "fr"])
def test_each_language_s_catalogue_is_served_as_json(api: Api, language: str) -> None:
    served = api.page(f"/static/i18n-{language}.json")

    assert served.status == 200
    assert served.headers["Content-Type"] == "application/json; charset=utf-8"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.body["upload.page-title"]  # parsed as JSON
    assert api.page("/static/i18n-xx.json").status == 404


def test_the_docs_serve_swagger_ui_and_the_openapi_document(api: Api) -> None:
    page = api.page("/docs", function="serve_docs")
    document = api.page("/openapi.json", function="serve_docs")
    bundle = api.page("/docs/swagger-ui-bundle.js", function="serve_docs")

    assert page.status == 200
    assert '<script src="docs/swagger-ui-bundle.js">' in page.body
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert document.status == 200
    assert "/exams/{exam_id}/students/import" in document.body["paths"]
    assert bundle.status == 200
    assert len(bundle.body) > 1_000_000
    assert api.page("/docs/other.js", function="serve_docs").status == 404


@pytest.mark.parametrize(
    ("function", "path"), [("serve_docs", "/docs"), ("serve_docs", "/openapi.json"), ("serve_pages", "/")]
)
def test_pages_and_documents_are_never_sniffed_and_send_no_referrer(api: Api, function: str, path: str) -> None:
    response = api.page(path, function=function)

    assert response.status == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
