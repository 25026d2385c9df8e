-- depends: 0013.mail
-- The invitations queued to each address of an exam, kept by the address's SHA-256 (as
-- suppressed_address keeps it): the daily limit per address counts them, for a mailbox that
-- several students share and for a student deleted and added again. They are the exam's, not the
-- student's: a student's deletion leaves them (and no address); the exam's deletion takes them.
-- Rows older than a day are deleted by the next send-codes of the exam.
CREATE TABLE address_invitation (
    exam_pk bigint NOT NULL REFERENCES exam (id) ON DELETE CASCADE,
    address_sha256 text NOT NULL CHECK (address_sha256 ~ '^[0-9a-f]{64}$'),
    queued_at timestamptz NOT NULL
);
CREATE INDEX address_invitation_per_exam ON address_invitation (exam_pk, address_sha256, queued_at);
