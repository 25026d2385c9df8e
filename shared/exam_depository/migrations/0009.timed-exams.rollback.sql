DROP TABLE question_paper;
ALTER TABLE submission DROP COLUMN due_at;
ALTER TABLE student DROP COLUMN extra_time_accepted_until;
ALTER TABLE student DROP COLUMN extra_time_minutes;
ALTER TABLE student DROP COLUMN extra_time_percent;
ALTER TABLE student DROP COLUMN started_at;
ALTER TABLE exam DROP COLUMN duration_minutes;
