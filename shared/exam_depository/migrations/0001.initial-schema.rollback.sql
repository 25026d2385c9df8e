DROP TABLE submission;
DROP TABLE upload;
DROP TABLE student;
