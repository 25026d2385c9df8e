-- depends: 0006.pseudonyms
-- When a student's extension was last removed. Removing an extension takes effect at once: the
-- recorder rejects what S3 accepted after the exam's cut-off on a form issued under the extension,
-- but only what it accepted after the removal. A file accepted before it, inside the extension,
-- whose notification was still queued (or that the reconcile job records later) is recorded.
ALTER TABLE student ADD COLUMN extension_removed_at timestamptz;
