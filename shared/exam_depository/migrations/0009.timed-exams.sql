-- depends: 0008.unaccent
-- Timed exams: an exam may give each student a fixed time from the moment they start, extra time
-- per student (accommodations), and a question paper released when a student starts. Additive
-- only: an older layer running against this schema (a rolled-back deployment) ignores it all, and
-- what is already here keeps its meaning: every exam untimed, every student without extra time and
-- not started, so every window, late flag, retention and receipt stays as it was.

-- The exam's time limit; NULL: not timed (every exam before this release).
ALTER TABLE exam ADD COLUMN duration_minutes integer CHECK (duration_minutes BETWEEN 1 AND 10080);

-- A student's clock and accommodation (a constant default rewrites no table).
ALTER TABLE student ADD COLUMN started_at timestamptz;  -- the server's clock, set once
ALTER TABLE student ADD COLUMN extra_time_percent integer NOT NULL DEFAULT 0
    CHECK (extra_time_percent BETWEEN 0 AND 300);
ALTER TABLE student ADD COLUMN extra_time_minutes integer NOT NULL DEFAULT 0
    CHECK (extra_time_minutes BETWEEN 0 AND 1440);
-- What S3 accepted until then stays in, though the extra time it was accepted under was since
-- taken back: at a change, the earlier of its moment and the cut-off then in force (never later,
-- so that a change after the exam closed reopens nothing).
ALTER TABLE student ADD COLUMN extra_time_accepted_until timestamptz;

-- The due time `late` was measured against; NULL for submissions recorded before this release
-- (their due time then is not guessed).
ALTER TABLE submission ADD COLUMN due_at timestamptz;

-- One row per presigned form for an exam's question paper, as `upload` is per answer form; the
-- paper students get is the one `current` row.
CREATE TABLE question_paper (
    id uuid PRIMARY KEY,
    exam_id bigint NOT NULL REFERENCES exam (id) ON DELETE CASCADE,
    issue_seq bigint GENERATED ALWAYS AS IDENTITY,
    object_key text NOT NULL UNIQUE,
    filename text NOT NULL,
    expected_sha256 text CHECK (expected_sha256 ~ '^[0-9a-f]{64}$'),
    issued_at timestamptz NOT NULL DEFAULT now(),
    form_expires_at timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'current', 'superseded', 'rejected')),
    rejection_reason text
        CHECK (rejection_reason IN ('empty', 'too_large', 'not_pdf', 'checksum_mismatch', 'after_opening')),
    version_id text,
    size_bytes bigint CHECK (size_bytes BETWEEN 1 AND 20971520),
    sha256 text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    uploaded_at timestamptz,  -- S3's event time
    object_deleted_at timestamptz,
    CONSTRAINT question_paper_rejection_has_reason CHECK ((status = 'rejected') = (rejection_reason IS NOT NULL))
);
CREATE UNIQUE INDEX question_paper_one_current ON question_paper (exam_id) WHERE status = 'current';
-- Every exam answer lists its latest paper forms, and an exam's deletion cascades to its papers.
CREATE INDEX question_paper_by_exam ON question_paper (exam_id, issue_seq);
