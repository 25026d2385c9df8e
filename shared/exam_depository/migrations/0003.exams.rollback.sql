-- Only while every student is still in one exam: nicknames were unique across all students.
ALTER TABLE submission DROP COLUMN late;
ALTER TABLE student DROP CONSTRAINT student_extension_whole;
ALTER TABLE student DROP COLUMN extra_attempts;
ALTER TABLE student DROP COLUMN extension_cutoff_at;
ALTER TABLE student DROP COLUMN extension_due_at;
DROP INDEX student_email_per_exam;
DROP INDEX student_nickname_per_exam;
CREATE UNIQUE INDEX student_nickname_key ON student (lower(nickname));
CREATE UNIQUE INDEX student_email_key ON student (lower(email)) WHERE email IS NOT NULL;
ALTER TABLE student DROP COLUMN exam_id;
DROP TABLE exam;
DROP TABLE examiner_key;
DROP TABLE examiner;
