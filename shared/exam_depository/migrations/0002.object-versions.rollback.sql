ALTER TABLE upload DROP CONSTRAINT upload_rejection_reason_check;
UPDATE upload SET rejection_reason = 'too_large' WHERE rejection_reason = 'empty';
ALTER TABLE upload ADD CONSTRAINT upload_rejection_reason_check CHECK (rejection_reason IN ('too_large', 'limit_reached'));
ALTER TABLE upload ADD COLUMN s3_sequencer text;
ALTER TABLE upload DROP CONSTRAINT upload_used_has_version;
ALTER TABLE upload DROP COLUMN version_id;
COMMENT ON COLUMN upload.object_deleted_at IS NULL;
