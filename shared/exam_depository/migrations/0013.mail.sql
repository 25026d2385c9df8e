-- depends: 0012.content-and-scans
-- Mail: upload codes and receipts sent to the students' addresses, each message a row recorded
-- before anything is sent, and what SES said of it. Additive but for the email index: an older
-- layer after a rollback refuses a duplicate address by its own check first, and otherwise writes
-- none.

ALTER TABLE exam ADD COLUMN email_receipts boolean NOT NULL DEFAULT true;
ALTER TABLE exam ADD COLUMN language text NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'de', 'fr'));
ALTER TABLE exam ADD COLUMN codes_sent_at timestamptz;            -- the last send-codes accepted (per-exam limit)

-- The same address on two students of one exam is allowed (a shared family mailbox), and shown.
DROP INDEX student_email_per_exam;
-- The address as mail goes to it: email-validator's ASCII form (an IDN domain in punycode), lower-cased;
-- written by the application with `email` (domain.mail.normalized_address). An older row whose
-- address is not plain ASCII (or is longer than an address can be) gets NULL here: it counts as no
-- address until the examiner gives it again.
ALTER TABLE student ADD COLUMN email_address text
    CHECK (email_address ~ '^[\x21-\x7e]{3,254}$' AND email_address = lower(email_address));
UPDATE student SET email_address = lower(btrim(email))
WHERE email ~ '^[\x21-\x7e]+@[\x21-\x7e]+\.[\x21-\x7e]+$' AND length(email) <= 254;
CREATE INDEX student_email_per_exam ON student (exam_id, email_address) WHERE email_address IS NOT NULL;
CREATE INDEX student_email_address ON student (email_address) WHERE email_address IS NOT NULL;  -- a bounce, across exams
ALTER TABLE student ADD COLUMN email_state text
    CHECK (email_state IN ('queued', 'sent', 'delivered', 'bounced', 'complained', 'failed'));
ALTER TABLE student ADD COLUMN email_state_at timestamptz;
ALTER TABLE student ADD COLUMN last_message_id uuid;               -- whose state email_state shows
ALTER TABLE student ADD COLUMN invitations integer NOT NULL DEFAULT 0 CHECK (invitations >= 0);
ALTER TABLE student ADD COLUMN invited_at timestamptz;             -- the last invitation queued

-- One email to one student about one thing; its idempotency key makes it one message ever.
CREATE TABLE message (
    id uuid PRIMARY KEY,                                           -- also SES's tag `message`
    exam_pk bigint NOT NULL REFERENCES exam (id) ON DELETE CASCADE,
    student_id bigint NOT NULL REFERENCES student (id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('invitation', 'receipt', 'rejection')),
    idempotency_key text NOT NULL UNIQUE CHECK (idempotency_key ~ '^[a-z]+:[0-9a-f-]+(:[0-9]+)?$'),
    upload_id uuid REFERENCES upload (id) ON DELETE SET NULL,      -- receipt, rejection
    address text NOT NULL CHECK (length(address) <= 254),          -- as it was when queued (ASCII form)
    state text NOT NULL DEFAULT 'queued' CHECK (state IN
        ('queued', 'sending', 'sent', 'delivered', 'bounced', 'complained', 'failed', 'skipped')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts BETWEEN 0 AND 8),   -- SES calls made
    queued_at timestamptz NOT NULL DEFAULT now(),
    enqueued_at timestamptz,                                       -- last handed to SQS (NULL: never)
    claimed_at timestamptz,                                        -- last claimed (state sending)
    sent_at timestamptz,
    ses_message_id text UNIQUE,
    event_at timestamptz,                                          -- the latest SES event applied (its own time)
    detail text CHECK (length(detail) <= 500)                      -- bounce diagnostic, SES error, why skipped
);
CREATE INDEX message_unsettled ON message (queued_at) WHERE state IN ('queued', 'sending');
CREATE INDEX message_student ON message (student_id, queued_at DESC);
CREATE INDEX message_exam_state ON message (exam_pk, state);

-- Addresses that bounced hard or complained, across exams: nothing more is sent to them until an
-- examiner gives the student another address (or ops lift it: docs/OPERATIONS.md). Kept by their
-- SHA-256 only (of email_address): an exam's deletion leaves no address behind.
CREATE TABLE suppressed_address (
    address_sha256 text PRIMARY KEY CHECK (address_sha256 ~ '^[0-9a-f]{64}$'),
    reason text NOT NULL CHECK (reason IN ('bounce', 'complaint')),
    since timestamptz NOT NULL,
    message_id uuid,                                               -- the message that taught us
    detail text CHECK (length(detail) <= 500)                      -- SES's diagnostic, the address cut out
);

-- The sending rate across every sender environment: each send takes the next slot.
CREATE TABLE mail_pace (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    next_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO mail_pace DEFAULT VALUES;
