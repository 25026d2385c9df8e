-- depends: 0001.initial-schema
-- The bucket is versioned from this release: posting a form again makes a new version of its
-- key, and a form produces one record at most. Each used form names the one version its record
-- is about; objects written before, while the bucket was not versioned, are S3's "null" version.
ALTER TABLE upload ADD COLUMN version_id text;
UPDATE upload SET version_id = 'null' WHERE status <> 'pending';
ALTER TABLE upload ADD CONSTRAINT upload_used_has_version CHECK ((status = 'pending') = (version_id IS NULL));

-- Events on one key were ordered by S3's sequencer so that a newer object could replace the
-- record; a recorded version now never changes, so nothing reads it.
ALTER TABLE upload DROP COLUMN s3_sequencer;

-- An empty object is refused by the form's policy; if one is ever stored it is rejected too.
ALTER TABLE upload DROP CONSTRAINT upload_rejection_reason_check;
ALTER TABLE upload ADD CONSTRAINT upload_rejection_reason_check
    CHECK (rejection_reason IN ('too_large', 'limit_reached', 'empty'));

-- object_deleted_at is now set only once S3 confirmed the delete of that version.
COMMENT ON COLUMN upload.object_deleted_at IS 'when S3 confirmed the delete of version_id';
