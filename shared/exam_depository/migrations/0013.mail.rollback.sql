-- The older layer knows one address per student of an exam: its unique index comes back only if no
-- exam holds the same address twice (the examiner removes or changes one first). The messages, the
-- suppressed addresses and the students' mail states go with the tables and columns.
DO $$
BEGIN
    IF EXISTS (SELECT FROM student WHERE email IS NOT NULL GROUP BY exam_id, lower(email) HAVING count(*) > 1) THEN
        RAISE EXCEPTION 'duplicate addresses: remove them first';
    END IF;
END
$$;
DROP TABLE mail_pace;
DROP TABLE suppressed_address;
DROP TABLE message;
ALTER TABLE student DROP COLUMN invited_at;
ALTER TABLE student DROP COLUMN invitations;
ALTER TABLE student DROP COLUMN last_message_id;
ALTER TABLE student DROP COLUMN email_state_at;
ALTER TABLE student DROP COLUMN email_state;
DROP INDEX student_email_address;
DROP INDEX student_email_per_exam;
ALTER TABLE student DROP COLUMN email_address;
CREATE UNIQUE INDEX student_email_per_exam ON student (exam_id, lower(email)) WHERE email IS NOT NULL;
ALTER TABLE exam DROP COLUMN codes_sent_at;
ALTER TABLE exam DROP COLUMN language;
ALTER TABLE exam DROP COLUMN email_receipts;
