"""The end-to-end tests of the local stack that hold unchanged against the deployment: here they
run against template.yaml as deployed (API Gateway's key check and usage plan, the functions'
roles, the queue's redrive policy, the bucket's TLS-only policy), through the same client.

Not reused, and why: the redrive test (MiniStack 1.5.33 has no StartMessageMoveTask, which
`make redrive` uses on AWS), the reconcile and CORS tests (test_deployment.py has their deployed
forms: the job invoked remotely, the page's real origin in Chromium), and the receipt test (its
issuer is the stack's name here, "local" there)."""

from tests.e2e.test_local_stack import (
    test_a_poison_message_is_retried_then_lands_in_the_dead_letter_queue,
    test_examiner_routes_need_the_key,
    test_posting_a_recorded_form_again_changes_nothing_a_reviewer_sees_or_downloads,
    test_resubmissions_supersede_and_the_sixth_is_refused,
    test_s3_refuses_a_file_over_3_mib_and_nothing_is_recorded,
    test_s3_refuses_a_tampered_or_expired_form,
    test_the_deploy_smoke_test_passes_against_the_local_stack,
    test_twenty_parallel_uploads_for_one_student_record_five_and_leave_one_file,
    test_upload_record_verify_and_download_the_same_bytes,
)

__all__ = [
    "test_a_poison_message_is_retried_then_lands_in_the_dead_letter_queue",
    "test_examiner_routes_need_the_key",
    "test_posting_a_recorded_form_again_changes_nothing_a_reviewer_sees_or_downloads",
    "test_resubmissions_supersede_and_the_sixth_is_refused",
    "test_s3_refuses_a_file_over_3_mib_and_nothing_is_recorded",
    "test_s3_refuses_a_tampered_or_expired_form",
    "test_the_deploy_smoke_test_passes_against_the_local_stack",
    "test_twenty_parallel_uploads_for_one_student_record_five_and_leave_one_file",
    "test_upload_record_verify_and_download_the_same_bytes",
]
