DROP TABLE object_scan;
DROP INDEX submission_scan_pending;
ALTER TABLE submission DROP COLUMN scan_released_by;
ALTER TABLE submission DROP COLUMN scan_released_at;
ALTER TABLE submission DROP COLUMN scan_detail;
ALTER TABLE submission DROP COLUMN scan;
ALTER TABLE submission DROP COLUMN warnings;
ALTER TABLE submission DROP COLUMN found_type;
ALTER TABLE upload DROP CONSTRAINT upload_rejection_reason_check;
-- The older layer knows no content rejection: the nearest it tells a student is that the file
-- that arrived is not the one expected (the attempt was given back all the same).
UPDATE upload SET rejection_reason = 'checksum_mismatch'
WHERE rejection_reason IN ('wrong-type', 'pdf-unreadable', 'pdf-encrypted');
ALTER TABLE upload ADD CONSTRAINT upload_rejection_reason_check
    CHECK (rejection_reason IN ('too_large', 'limit_reached', 'empty', 'checksum_mismatch', 'after_cutoff'));
ALTER TABLE upload DROP COLUMN found_type;
ALTER TABLE upload DROP COLUMN check_pdfs;
ALTER TABLE upload DROP COLUMN accepted_types;
ALTER TABLE exam DROP COLUMN check_pdfs;
ALTER TABLE exam DROP COLUMN accepted_types;
