-- depends: 0003.exams
-- Collect and prove: the SHA-256 a student's page computed (S3 checks it), a signed receipt for
-- every recorded submission, the public keys that verify receipts, and exports of an exam's files.

-- The SHA-256 the page sent with the presign request: the form makes S3 refuse other bytes, and
-- the recorder rejects a file whose hash differs (a stand-in for S3 that does not check).
ALTER TABLE upload ADD COLUMN expected_sha256 text CHECK (expected_sha256 ~ '^[0-9a-f]{64}$');
ALTER TABLE upload DROP CONSTRAINT upload_rejection_reason_check;
ALTER TABLE upload ADD CONSTRAINT upload_rejection_reason_check
    CHECK (rejection_reason IN ('too_large', 'limit_reached', 'empty', 'checksum_mismatch'));

-- A receipt: a compact JWS (ES256) of what was recorded. Submissions of the first edition have
-- none; every one recorded from now on has exactly one, issued in the transaction that records it.
ALTER TABLE submission ADD COLUMN receipt text;
-- S3 computed and checked the SHA-256 (the form pinned it), rather than the recorder reading the file.
ALTER TABLE submission ADD COLUMN sha256_checked_by_s3 boolean NOT NULL DEFAULT false;

-- Every public key a receipt was ever signed with, by its RFC 7638 thumbprint (the JWS `kid`):
-- receipts stay verifiable when the signing key is replaced.
CREATE TABLE receipt_key (
    kid        text        PRIMARY KEY,
    jwk        jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- An export: every current submission of an exam in one ZIP, built by the export function.
CREATE TABLE export (
    id           uuid        PRIMARY KEY,
    exam_id      bigint      NOT NULL REFERENCES exam (id) ON DELETE CASCADE,
    status       text        NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    files_total  integer,
    files_done   integer     NOT NULL DEFAULT 0,
    bytes        bigint      NOT NULL DEFAULT 0,
    object_key   text        NOT NULL,
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    expires_at   timestamptz,
    CONSTRAINT export_failed_says_why CHECK ((status = 'failed') = (error IS NOT NULL)),
    CONSTRAINT export_done_expires CHECK ((status = 'done') = (expires_at IS NOT NULL))
);
CREATE INDEX export_exam_idx ON export (exam_id, created_at);
