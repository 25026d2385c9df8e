DROP INDEX student_pseudonym_per_exam;
ALTER TABLE student DROP COLUMN pseudonym;
