-- depends: 0004.receipts-and-exports
-- Keep every answer until the examiner can collect it: a file is now kept `RetentionDays` after
-- the later of its upload and its student's cut-off (the exam's, or the extension's when later),
-- where it was kept `RetentionDays` after its upload. The retention in force is in every row
-- already (expires_at - submitted_at), so each file not yet expired is moved on by the time from
-- its upload to its student's cut-off, if the cut-off was later. Never earlier: a file's expiry
-- only moves later.
UPDATE submission x
SET expires_at = x.expires_at + (greatest(e.cutoff_at, s.extension_cutoff_at) - x.submitted_at)
FROM student s JOIN exam e ON e.id = s.exam_id
WHERE x.student_id = s.id AND x.status <> 'expired'
  AND greatest(e.cutoff_at, s.extension_cutoff_at) > x.submitted_at;

-- What S3 accepted after the student's cut-off in force, with a form issued before the exam was
-- closed, its window shortened or the extension removed, is rejected with this reason.
ALTER TABLE upload DROP CONSTRAINT upload_rejection_reason_check;
ALTER TABLE upload ADD CONSTRAINT upload_rejection_reason_check
    CHECK (rejection_reason IN ('too_large', 'limit_reached', 'empty', 'checksum_mismatch', 'after_cutoff'));
