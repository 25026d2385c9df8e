-- The depository's records. The invariants of DESIGN.md live here as constraints where a
-- constraint can hold them; the rest is guarded by a row lock on the student (see db.py).

CREATE TABLE student (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    nickname    text        NOT NULL CHECK (nickname ~ '^[A-Za-z0-9._-]{1,32}$'),
    first_name  text        NOT NULL CHECK (length(first_name) BETWEEN 1 AND 200),
    last_name   text        NOT NULL CHECK (length(last_name) BETWEEN 1 AND 200),
    email       text,
    upload_code text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT student_upload_code_key UNIQUE (upload_code)
);
CREATE UNIQUE INDEX student_nickname_key ON student (lower(nickname));
CREATE UNIQUE INDEX student_email_key ON student (lower(email)) WHERE email IS NOT NULL;

-- One row per presigned form handed out. issue_seq orders uploads across keys: the upload
-- issued last is the one that becomes current.
CREATE TABLE upload (
    id                uuid        PRIMARY KEY,
    student_id        bigint      NOT NULL REFERENCES student (id) ON DELETE CASCADE,
    issue_seq         bigint      GENERATED ALWAYS AS IDENTITY,
    object_key        text        NOT NULL,
    filename          text        NOT NULL,
    content_type      text        NOT NULL,
    issued_at         timestamptz NOT NULL DEFAULT now(),
    form_expires_at   timestamptz NOT NULL,
    status            text        NOT NULL DEFAULT 'pending'
                                  CHECK (status IN ('pending', 'recorded', 'rejected')),
    rejection_reason  text        CHECK (rejection_reason IN ('too_large', 'limit_reached')),
    s3_sequencer      text,
    -- Set once the object is gone from S3 (superseded, rejected); NULL while it must exist.
    object_deleted_at timestamptz,
    CONSTRAINT upload_object_key_key UNIQUE (object_key),
    CONSTRAINT upload_rejection_has_reason CHECK ((status = 'rejected') = (rejection_reason IS NOT NULL))
);
CREATE INDEX upload_student_idx ON upload (student_id, issue_seq);

-- One row per recorded upload (never more than the limit per student).
CREATE TABLE submission (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    upload_id         uuid        NOT NULL REFERENCES upload (id) ON DELETE CASCADE,
    student_id        bigint      NOT NULL REFERENCES student (id) ON DELETE CASCADE,
    issue_seq         bigint      NOT NULL,
    verification_code text        NOT NULL,
    filename          text        NOT NULL,
    content_type      text        NOT NULL,
    size_bytes        bigint      NOT NULL CHECK (size_bytes BETWEEN 1 AND 3145728),
    sha256            text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    submitted_at      timestamptz NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    status            text        NOT NULL CHECK (status IN ('current', 'superseded', 'expired')),
    CONSTRAINT submission_upload_key UNIQUE (upload_id),
    CONSTRAINT submission_verification_code_key UNIQUE (verification_code)
);
-- Exactly one current submission per student, whatever the order events arrive in.
CREATE UNIQUE INDEX submission_one_current ON submission (student_id) WHERE status = 'current';
CREATE INDEX submission_student_idx ON submission (student_id, issue_seq);
CREATE INDEX submission_expiry_idx ON submission (expires_at) WHERE status = 'current';
