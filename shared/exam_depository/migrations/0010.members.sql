-- depends: 0009.timed-exams
-- Members: an exam is run by a team. Each member is an examiner (the person `examiner_key` maps
-- API keys to; never a key id) with one role; an owner invites others with a one-time code.
-- `exam.examiner_id` stays as who created the exam and never changes. Additive only: an older
-- layer running against this schema (a rolled-back deployment) still finds exams through
-- `exam.examiner_id`, so creators keep theirs and invited members see nothing (it fails closed),
-- and the triggers below keep the creator an owner whatever layer inserts the exam.

-- The identity's public id: what the members list and the audit log show (never a key id).
ALTER TABLE examiner ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE examiner ADD CONSTRAINT examiner_public_id_key UNIQUE (public_id);
-- What a member's copy of the exam id refers to.
ALTER TABLE exam ADD CONSTRAINT exam_id_slug_key UNIQUE (id, slug);

CREATE TABLE exam_member (
    exam_id     bigint      NOT NULL,
    -- The exam's id, copied so that it is unique per member (as per creator before): an exam id
    -- means one exam to each of its members. Exam ids never change; the cascade keeps it true.
    slug        text        NOT NULL,
    examiner_id bigint      NOT NULL REFERENCES examiner (id) ON DELETE RESTRICT,
    role        text        NOT NULL CHECK (role IN ('owner', 'co_examiner', 'grader', 'invigilator')),
    label       text        CHECK (length(label) BETWEEN 1 AND 100),  -- given at invitation
    joined_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (exam_id, examiner_id),
    FOREIGN KEY (exam_id, slug) REFERENCES exam (id, slug) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX exam_member_slug_per_examiner ON exam_member (examiner_id, slug);
-- GET /exams: a member's exams in id order (keyset).
CREATE INDEX exam_member_by_examiner ON exam_member (examiner_id, exam_id);

-- An owner's invitation: the code is shown once and stored as its SHA-256 only.
CREATE TABLE invitation (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    exam_id     bigint      NOT NULL REFERENCES exam (id) ON DELETE CASCADE,
    code_sha256 text        NOT NULL UNIQUE CHECK (code_sha256 ~ '^[0-9a-f]{64}$'),
    role        text        NOT NULL CHECK (role IN ('owner', 'co_examiner', 'grader', 'invigilator')),
    label       text        CHECK (length(label) BETWEEN 1 AND 100),
    invited_by  bigint      NOT NULL REFERENCES examiner (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    redeemed_at timestamptz,
    redeemed_by bigint      REFERENCES examiner (id),
    CONSTRAINT invitation_redeemed_whole CHECK ((redeemed_at IS NULL) = (redeemed_by IS NULL))
);
CREATE INDEX invitation_open ON invitation (exam_id) WHERE redeemed_at IS NULL;

-- The creator is an owner, whoever writes the exam: this layer's insert, an older layer's during
-- a rollback, ops assigning the legacy exam. Only a conflict on the membership itself is
-- skipped: an exam id the examiner already holds as a member fails the statement (a conflict).
CREATE FUNCTION exam_creator_is_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO exam_member (exam_id, slug, examiner_id, role, joined_at)
    VALUES (NEW.id, NEW.slug, NEW.examiner_id, 'owner', NEW.created_at)
    ON CONFLICT (exam_id, examiner_id) DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER exam_owner_on_insert AFTER INSERT ON exam
    FOR EACH ROW WHEN (NEW.examiner_id IS NOT NULL) EXECUTE FUNCTION exam_creator_is_owner();
CREATE TRIGGER exam_owner_on_assign AFTER UPDATE OF examiner_id ON exam
    FOR EACH ROW WHEN (OLD.examiner_id IS NULL AND NEW.examiner_id IS NOT NULL) EXECUTE FUNCTION exam_creator_is_owner();

-- An exam keeps an owner. A backstop: the application refuses first, under the exam's row lock.
-- Checked after the statement (so one that swaps roles passes), and only while the exam exists
-- (its deletion cascades to every member).
CREATE FUNCTION exam_keeps_an_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM exam WHERE id = OLD.exam_id)
       AND NOT EXISTS (SELECT 1 FROM exam_member WHERE exam_id = OLD.exam_id AND role = 'owner') THEN
        RAISE EXCEPTION 'exam % would have no owner', OLD.exam_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'exam_keeps_an_owner';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER exam_member_keeps_an_owner AFTER UPDATE OR DELETE ON exam_member
    FOR EACH ROW WHEN (OLD.role = 'owner') EXECUTE FUNCTION exam_keeps_an_owner();

-- The upgrade: every exam's examiner becomes its owner, joined when the exam was made. The
-- legacy exam (no examiner) gets no member until ops assign it.
INSERT INTO exam_member (exam_id, slug, examiner_id, role, joined_at)
SELECT id, slug, examiner_id, 'owner', created_at FROM exam WHERE examiner_id IS NOT NULL;
