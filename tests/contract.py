"""The routes of the HTTP contract (docs/DESIGN.md), as (path, method): the template, the
OpenAPI document and the local gateway are each held to this one list."""

from __future__ import annotations

# An examiner's LMS connections: registrations, the deep-linking choice, an exam's LMS state and
# its roster sync. Called with an API key or with a session from the LMS (the authorizer).
LTI_EXAMINER_ROUTES = {
    ("/lti/registrations", "post"),
    ("/lti/registrations", "get"),
    ("/lti/registrations/dynamic", "post"),
    ("/lti/deep-links", "post"),
    ("/exams/{exam_id}/lti", "get"),
    ("/exams/{exam_id}/lti/roster-sync", "post"),
}
# The LTI tool's own routes, called by the platform and the browser inside the course: its pages
# (the OIDC login, the launch, dynamic registration: HTML and redirects, outside the OpenAPI
# document as the other pages are) and its JSON (the tool's public keys, a learner's one-time ticket).
LTI_PAGE_ROUTES = {
    ("/lti/login", "get"),
    ("/lti/login", "post"),
    ("/lti/launch", "post"),
    ("/lti/register/{offer}", "get"),
}
LTI_TOOL_ROUTES = LTI_PAGE_ROUTES | {("/lti/jwks.json", "get"), ("/lti/tickets", "post")}
EXAMINER_ROUTES = LTI_EXAMINER_ROUTES | {
    ("/exams", "post"),
    ("/exams", "get"),
    ("/exams/{exam_id}", "get"),
    ("/exams/{exam_id}", "patch"),
    ("/exams/{exam_id}", "delete"),
    ("/exams/{exam_id}/close", "post"),
    ("/exams/{exam_id}/students", "post"),
    ("/exams/{exam_id}/students/import", "post"),
    ("/exams/{exam_id}/students", "get"),
    ("/exams/{exam_id}/students/{nickname}", "get"),
    ("/exams/{exam_id}/students/{nickname}", "delete"),
    ("/exams/{exam_id}/students/{nickname}/upload_code", "post"),
    ("/exams/{exam_id}/students/{nickname}/extension", "put"),
    ("/exams/{exam_id}/students/{nickname}/extension", "delete"),
    ("/exams/{exam_id}/extensions/import", "post"),
    ("/exams/{exam_id}/students/{nickname}/accommodation", "put"),
    ("/exams/{exam_id}/accommodations/import", "post"),
    ("/exams/{exam_id}/paper", "post"),
    ("/exams/{exam_id}/exports", "post"),
    ("/exams/{exam_id}/exports/{export_id}", "get"),
    ("/exams/{exam_id}/members/invitations", "post"),
    ("/members/invitations/{invitation_code}", "post"),
    ("/exams/{exam_id}/members", "get"),
    ("/exams/{exam_id}/members/{member_id}", "patch"),
    ("/exams/{exam_id}/members/{member_id}", "delete"),
    ("/exams/{exam_id}/audit", "get"),
    ("/exams/{exam_id}/submissions/{upload_id}/release", "post"),
    ("/exams/{exam_id}/students/send-codes", "post"),
    ("/exams/{exam_id}/students/{nickname}/email", "put"),
}
OPEN_ROUTES = (LTI_TOOL_ROUTES - LTI_PAGE_ROUTES) | {
    ("/submissions/{upload_code}", "post"),
    ("/submissions/{upload_code}", "get"),
    ("/submissions/{upload_code}/start", "post"),
    ("/submissions/{upload_code}/paper", "get"),
    ("/verifications/{verification_code}", "get"),
    ("/verifications/{verification_code}/download_url", "get"),
    ("/receipts/verify", "post"),
    ("/.well-known/jwks.json", "get"),
}
PAGE_ROUTES = LTI_PAGE_ROUTES | {
    ("/", "get"),
    ("/verify", "get"),
    ("/examiner", "get"),
    ("/docs", "get"),
    ("/openapi.json", "get"),
}
