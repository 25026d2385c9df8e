-- depends: 0011.audit
-- What reaches a reviewer: the types an exam accepts, checked by the file's bytes, and the malware
-- scan of every recorded file. Additive: an older layer running against this schema (a rolled-back
-- deployment) writes the defaults and NULLs below, and serves every file as before.

-- The kinds of file an exam accepts (empty: any), and whether its PDFs must open and hold text.
ALTER TABLE exam ADD COLUMN accepted_types text[] NOT NULL DEFAULT '{}'
    CHECK (accepted_types <@ ARRAY['pdf', 'word', 'odt', 'image', 'text', 'zip']::text[]);
ALTER TABLE exam ADD COLUMN check_pdfs boolean NOT NULL DEFAULT false;
-- A form carries the rules it was issued under, as it carries its expiry: a change of the exam's
-- applies to the forms issued after it.
ALTER TABLE upload ADD COLUMN accepted_types text[] NOT NULL DEFAULT '{}';
ALTER TABLE upload ADD COLUMN check_pdfs boolean NOT NULL DEFAULT false;
-- What the recorder found the bytes to be (a code such as 'pdf' or 'windows-program').
ALTER TABLE upload ADD COLUMN found_type text CHECK (found_type ~ '^[a-z0-9-]{1,40}$');
-- The content's rejections are spelled as the published contract spells them (kebab-case); the
-- older reasons keep their snake_case.
ALTER TABLE upload DROP CONSTRAINT upload_rejection_reason_check;
ALTER TABLE upload ADD CONSTRAINT upload_rejection_reason_check
    CHECK (rejection_reason IN ('too_large', 'limit_reached', 'empty', 'checksum_mismatch', 'after_cutoff',
                                'wrong-type', 'pdf-unreadable', 'pdf-encrypted'));
ALTER TABLE submission ADD COLUMN found_type text CHECK (found_type ~ '^[a-z0-9-]{1,40}$');
ALTER TABLE submission ADD COLUMN warnings text[] NOT NULL DEFAULT '{}'
    CHECK (warnings <@ ARRAY['scanned_pdf']::text[]);

-- The malware scan. NULL: not scanned (recorded before scanning was deployed, or scanning is off).
ALTER TABLE submission ADD COLUMN scan text
    CHECK (scan IN ('scanning', 'clean', 'threat', 'unsupported', 'failed'));
ALTER TABLE submission ADD COLUMN scan_detail text CHECK (length(scan_detail) <= 300);  -- threats, or why not scanned
-- The exam's owner released a file that could not be scanned (an audited act).
ALTER TABLE submission ADD COLUMN scan_released_at timestamptz;
ALTER TABLE submission ADD COLUMN scan_released_by bigint REFERENCES examiner (id) ON DELETE SET NULL;
CREATE INDEX submission_scan_pending ON submission (recorded_at) WHERE scan = 'scanning';

-- Every scan result of every version, recorded or not (yet): a result may arrive before the
-- recording, and is taken up when the version is recorded.
CREATE TABLE object_scan (
    upload_id      uuid        NOT NULL REFERENCES upload (id) ON DELETE CASCADE,
    version_id     text        NOT NULL,
    result         text        NOT NULL
                               CHECK (result IN ('NO_THREATS_FOUND', 'THREATS_FOUND', 'UNSUPPORTED', 'ACCESS_DENIED', 'FAILED')),
    scanned_at     timestamptz NOT NULL,  -- the event's `time`
    event_id       text        NOT NULL,
    status_reasons text[]      NOT NULL DEFAULT '{}',
    threats        text[]      NOT NULL DEFAULT '{}',
    scanner        text        NOT NULL,  -- the event's resources[0] (the plan's ARN, the stand-in's), or 'tag'
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (upload_id, version_id)
);
