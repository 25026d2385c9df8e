-- depends: 0010.members
-- The audit log: each exam's events, a hash chain per exam (docs/AUDIT.md), its head, and signed
-- checkpoints of the head. Additive: an older layer running against this schema (a rolled-back
-- deployment) appends nothing, and its exams still get a head (a trigger) and can be deleted (no
-- foreign key points at the exam: the deletion's tombstone outlives it).

-- The head of each exam's chain: the last event's seq and hash (genesis: seq 0, 64 zeros). An
-- append updates it, so one exam's appends queue on its row until each commits.
CREATE TABLE audit_head (
    exam_pk bigint PRIMARY KEY,
    seq bigint NOT NULL CHECK (seq >= 0),
    hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    prev_hash text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    at timestamptz NOT NULL
);

CREATE TABLE audit_event (
    exam_pk bigint NOT NULL,
    seq bigint NOT NULL CHECK (seq >= 1),
    at timestamptz NOT NULL,
    actor text NOT NULL,
    role text,
    action text NOT NULL,
    target text NOT NULL,
    before jsonb,
    after jsonb,
    request_id text,
    subjects text[] NOT NULL DEFAULT '{}',  -- pseudonyms, for the filter by student; not hashed
    prev_hash text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    PRIMARY KEY (exam_pk, seq)
);
CREATE INDEX audit_event_subjects ON audit_event USING gin (subjects);
CREATE INDEX audit_event_action ON audit_event (exam_pk, action, seq);

CREATE TABLE audit_checkpoint (
    exam_pk bigint NOT NULL,
    seq bigint NOT NULL,
    hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    reason text NOT NULL CHECK (reason IN ('closed', 'exported')),
    signed_at timestamptz NOT NULL DEFAULT now(),
    token text NOT NULL,
    PRIMARY KEY (exam_pk, seq, reason)
);

-- When a student first got the question paper's link: that first download is an event, once.
ALTER TABLE student ADD COLUMN paper_first_linked_at timestamptz;

-- Every exam has a head, also one that an older layer inserts.
INSERT INTO audit_head (exam_pk, seq, hash, prev_hash, at)
SELECT id, 0, repeat('0', 64), repeat('0', 64), created_at FROM exam;

CREATE FUNCTION audit_head_for_exam() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_head (exam_pk, seq, hash, prev_hash, at)
    VALUES (NEW.id, 0, repeat('0', 64), repeat('0', 64), now());
    RETURN NULL;
END
$$;
CREATE TRIGGER exam_audit_head AFTER INSERT ON exam FOR EACH ROW EXECUTE FUNCTION audit_head_for_exam();

-- Append-only. A trigger, not grants: the functions connect as the database's master user, who
-- owns these tables, and locally as a superuser; grants bind neither, a trigger binds every role.
-- A row goes only once its exam is gone, and the deletion's tombstone not before it is 30 days
-- old, whatever the application asks.
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND NOT EXISTS (SELECT 1 FROM exam WHERE id = OLD.exam_pk)
       -- to_jsonb: the same function serves audit_checkpoint, whose rows have no action
       AND NOT (TG_TABLE_NAME = 'audit_event'
                AND to_jsonb(OLD) ->> 'action' = 'exam.deleted'
                AND (to_jsonb(OLD) ->> 'at')::timestamptz > now() - interval '30 days') THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE FUNCTION audit_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoint_append_only BEFORE UPDATE OR DELETE ON audit_checkpoint
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_truncate();
CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_truncate();

-- A backstop to the application's append: an event follows its exam's last one, and names its hash.
CREATE FUNCTION audit_event_follows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_seq bigint;
    last_hash text;
BEGIN
    SELECT seq, hash INTO last_seq, last_hash FROM audit_event
    WHERE exam_pk = NEW.exam_pk ORDER BY seq DESC LIMIT 1;
    IF NEW.seq <> coalesce(last_seq, 0) + 1 OR NEW.prev_hash <> coalesce(last_hash, repeat('0', 64)) THEN
        RAISE EXCEPTION 'an audit event must follow its exam''s last one'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'audit_event_follows';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_event_follows BEFORE INSERT ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_follows();
