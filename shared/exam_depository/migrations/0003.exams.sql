-- depends: 0002.object-versions
-- Exams: the unit an examiner runs. Every student belongs to one exam; every exam to the
-- examiner whose API key created it. What the previous release held moves into one exam,
-- "legacy", that belongs to no one until ops assign it (docs/OPERATIONS.md, section 3).

-- An examiner is a person; API Gateway key ids (never the keys) map to one, so that a rotated
-- key keeps its examiner's exams.
CREATE TABLE examiner (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE examiner_key (
    api_key_id  text        PRIMARY KEY CHECK (length(api_key_id) BETWEEN 1 AND 128),
    examiner_id bigint      NOT NULL REFERENCES examiner (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX examiner_key_examiner_idx ON examiner_key (examiner_id);

CREATE TABLE exam (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- NULL only for the legacy exam, until ops assign it to an examiner.
    examiner_id  bigint      REFERENCES examiner (id) ON DELETE RESTRICT,
    slug         text        NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    title        text        NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    opens_at     timestamptz NOT NULL,
    due_at       timestamptz NOT NULL,
    cutoff_at    timestamptz NOT NULL,
    timezone     text        NOT NULL,
    max_attempts integer     NOT NULL CHECK (max_attempts BETWEEN 1 AND 50),
    anonymous    boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT exam_window_in_order CHECK (opens_at <= due_at AND due_at <= cutoff_at)
);
-- An examiner's exam ids are unique (NULLs are distinct: only the legacy exam has none).
CREATE UNIQUE INDEX exam_slug_per_examiner ON exam (examiner_id, slug);

-- The previous release had no window: the legacy exam opens when its first student was created
-- and stays open a week from the upgrade (5 attempts, as the previous release's default). A new
-- installation has no students, and no legacy exam.
INSERT INTO exam (slug, title, opens_at, due_at, cutoff_at, timezone, max_attempts)
SELECT 'legacy', 'Students from before exams', least(min(created_at), now()),
       now() + interval '7 days', now() + interval '7 days', 'UTC', 5
FROM student
HAVING count(*) > 0;

ALTER TABLE student ADD COLUMN exam_id bigint REFERENCES exam (id) ON DELETE CASCADE;
UPDATE student SET exam_id = (SELECT id FROM exam WHERE slug = 'legacy' AND examiner_id IS NULL);
ALTER TABLE student ALTER COLUMN exam_id SET NOT NULL;

-- Nicknames and emails are unique per exam: the same person in two exams is two students.
DROP INDEX student_nickname_key;
DROP INDEX student_email_key;
CREATE UNIQUE INDEX student_nickname_per_exam ON student (exam_id, lower(nickname));
CREATE UNIQUE INDEX student_email_per_exam ON student (exam_id, lower(email)) WHERE email IS NOT NULL;

-- An extension: the student's own due and cut-off times (never earlier than the exam's: the
-- effective time is the later of the two), and attempts granted beyond the exam's.
ALTER TABLE student ADD COLUMN extension_due_at timestamptz;
ALTER TABLE student ADD COLUMN extension_cutoff_at timestamptz;
ALTER TABLE student ADD COLUMN extra_attempts integer NOT NULL DEFAULT 0 CHECK (extra_attempts BETWEEN 0 AND 50);
ALTER TABLE student ADD CONSTRAINT student_extension_whole CHECK (
    (extension_due_at IS NULL) = (extension_cutoff_at IS NULL)
    AND (extension_due_at IS NULL OR extension_due_at <= extension_cutoff_at)
);

-- Late: S3 accepted the bytes after the student's effective due time. Nothing was late before.
ALTER TABLE submission ADD COLUMN late boolean NOT NULL DEFAULT false;
