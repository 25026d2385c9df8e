-- depends: 0015.address-invitations
-- LTI 1.3: the platforms (LMSs) registered with the tool, their logins and users, the exams placed
-- in their courses, the roster entries made from them, and the hand-in statuses owed to their
-- gradebooks. Additive: an older layer after a rollback never reads these tables, and
-- examiner_key's new check only bounds the `lti:` rows it never writes.

-- A platform (issuer + client id), registered by an examiner with a key: its owner, who becomes
-- an owner of every exam placed in a course through it.
CREATE TABLE lti_registration (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),          -- registration_id in the API
    owner_id bigint NOT NULL REFERENCES examiner (id) ON DELETE RESTRICT,
    issuer text NOT NULL CHECK (issuer ~ '^https?://[^\s?#]+$' AND length(issuer) <= 255),
    client_id text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 255),
    auth_login_url text NOT NULL CHECK (auth_login_url ~ '^https?://\S+$' AND length(auth_login_url) <= 2000),
    auth_token_url text NOT NULL CHECK (auth_token_url ~ '^https?://\S+$' AND length(auth_token_url) <= 2000),
    auth_audience text CHECK (length(auth_audience) <= 2000),            -- the token's aud when not its URL
    key_set_url text NOT NULL CHECK (key_set_url ~ '^https?://\S+$' AND length(key_set_url) <= 2000),
    how text NOT NULL CHECK (how IN ('manual', 'dynamic')),
    platform_name text CHECK (length(platform_name) <= 200),             -- dynamic: the configuration's
    product_family_code text CHECK (length(product_family_code) <= 100),
    scopes text[] NOT NULL DEFAULT '{}',                                 -- granted (dynamic) or assumed (manual)
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lti_registration_platform UNIQUE (issuer, client_id)
);
CREATE INDEX lti_registration_owner ON lti_registration (owner_id);

CREATE TABLE lti_deployment (
    registration_id bigint NOT NULL REFERENCES lti_registration (id) ON DELETE CASCADE,
    deployment_id text NOT NULL CHECK (length(deployment_id) BETWEEN 1 AND 255),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (registration_id, deployment_id)
);

-- A one-time dynamic registration URL: its token shown once, kept as SHA-256.
CREATE TABLE lti_offer (
    token_sha256 text PRIMARY KEY CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    owner_id bigint NOT NULL REFERENCES examiner (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    registration_id bigint REFERENCES lti_registration (id) ON DELETE SET NULL
);

-- An OIDC login: the state we issued (its SHA-256), the nonce we asked for, where the browser keeps
-- the state. The launch uses it once: the nonce is used once with it.
CREATE TABLE lti_login (
    state_sha256 text PRIMARY KEY CHECK (state_sha256 ~ '^[0-9a-f]{64}$'),
    registration_id bigint NOT NULL REFERENCES lti_registration (id) ON DELETE CASCADE,
    nonce text NOT NULL UNIQUE CHECK (nonce ~ '^[A-Za-z0-9_-]{32,64}$'),
    deployment_hint text,                                                -- lti_deployment_id of the login, if sent
    target_link_uri text NOT NULL CHECK (length(target_link_uri) <= 2000),
    storage text NOT NULL CHECK (storage IN ('cookie', 'platform')),     -- platform: also in lti_storage_target
    storage_target text CHECK (length(storage_target) <= 200),
    storage_origin text CHECK (length(storage_origin) <= 300),           -- the platform's, for postMessage
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,                                     -- created_at + 5 minutes
    used_at timestamptz
);
CREATE INDEX lti_login_expiry ON lti_login (expires_at);

-- A platform's user. A teacher acts as an examiner of their own, whose examiner_key is
-- 'lti:' || public_id: every examiner statement finds them as it finds a key's examiner.
CREATE TABLE lti_user (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    registration_id bigint NOT NULL REFERENCES lti_registration (id) ON DELETE CASCADE,
    sub text NOT NULL CHECK (length(sub) BETWEEN 1 AND 255),
    examiner_id bigint UNIQUE REFERENCES examiner (id) ON DELETE SET NULL,  -- a teacher's identity
    name text CHECK (length(name) <= 200),                              -- a teacher's, for the members list
    last_launch_at timestamptz,
    CONSTRAINT lti_user_platform_sub UNIQUE (registration_id, sub)
);
ALTER TABLE examiner_key ADD CONSTRAINT examiner_key_lti_form
    CHECK (api_key_id !~ '^lti:' OR api_key_id ~ '^lti:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$');

-- A deep-linking request waiting for the teacher's choice (the platform's return URL and data).
CREATE TABLE lti_deep_link (
    id uuid PRIMARY KEY,
    registration_id bigint NOT NULL,
    deployment_id text NOT NULL,
    lti_user_id bigint NOT NULL REFERENCES lti_user (id) ON DELETE CASCADE,
    context_id text NOT NULL CHECK (length(context_id) BETWEEN 1 AND 255),
    context_title text CHECK (length(context_title) <= 300),
    return_url text NOT NULL CHECK (length(return_url) <= 2000),
    data text CHECK (length(data) <= 16384),                           -- echoed exactly: Canvas sends a JWT
    accept_line_item boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,                                     -- + 1 hour
    used_at timestamptz,
    FOREIGN KEY (registration_id, deployment_id) REFERENCES lti_deployment ON DELETE CASCADE
);

-- An exam placed in a course. One exam may be placed in several courses.
CREATE TABLE lti_link (
    id uuid PRIMARY KEY,                                                 -- the custom parameter `link`
    exam_pk bigint NOT NULL REFERENCES exam (id) ON DELETE CASCADE,
    registration_id bigint NOT NULL,
    deployment_id text NOT NULL,
    context_id text NOT NULL CHECK (length(context_id) BETWEEN 1 AND 255),
    context_title text CHECK (length(context_title) <= 300),
    resource_link_id text CHECK (length(resource_link_id) <= 255),       -- learnt at the first launch
    lineitems_url text CHECK (length(lineitems_url) <= 2000),            -- AGS, learnt at launch
    lineitem_url text CHECK (length(lineitem_url) <= 2000),
    memberships_url text CHECK (length(memberships_url) <= 2000),        -- NRPS, learnt at launch
    created_by bigint REFERENCES examiner (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    synced_at timestamptz,                                               -- the last roster sync that finished
    FOREIGN KEY (registration_id, deployment_id) REFERENCES lti_deployment ON DELETE CASCADE
);
CREATE INDEX lti_link_exam ON lti_link (exam_pk);
CREATE INDEX lti_link_sync_due ON lti_link (synced_at NULLS FIRST) WHERE memberships_url IS NOT NULL;

-- A roster entry made or matched from the platform. Never deleted when the course drops them:
-- left_at says so, and a later launch or sync clears it. A student belongs to one course (link) of
-- the exam: the one that last launched them or whose sync listed them (a student who changed
-- section moves to the new one); only that course's sync marks them as left.
CREATE TABLE lti_learner (
    student_id bigint PRIMARY KEY REFERENCES student (id) ON DELETE CASCADE,
    exam_pk bigint NOT NULL REFERENCES exam (id) ON DELETE CASCADE,
    lti_user_id bigint NOT NULL REFERENCES lti_user (id) ON DELETE CASCADE,
    link_id uuid NOT NULL REFERENCES lti_link (id) ON DELETE CASCADE,
    joined_via text NOT NULL CHECK (joined_via IN ('launch', 'sync')),
    left_at timestamptz,                                                 -- the course no longer lists them
    CONSTRAINT lti_learner_once UNIQUE (exam_pk, lti_user_id)
);
CREATE INDEX lti_learner_link ON lti_learner (link_id);

-- A learner's one-time landing: the upload page exchanges it for the code (never in a URL).
CREATE TABLE lti_ticket (
    ticket_sha256 text PRIMARY KEY CHECK (ticket_sha256 ~ '^[0-9a-f]{64}$'),
    student_id bigint NOT NULL REFERENCES student (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,                                     -- + 2 minutes
    used_at timestamptz
);

-- The gradebook's outbox: one score per recorded upload and link, written in the recorder's
-- transaction, to the line item of the course the student belongs to (lti_learner.link_id).
CREATE TABLE lti_score (
    id uuid PRIMARY KEY,
    link_id uuid NOT NULL REFERENCES lti_link (id) ON DELETE CASCADE,
    student_id bigint NOT NULL REFERENCES student (id) ON DELETE CASCADE,
    upload_id uuid REFERENCES upload (id) ON DELETE SET NULL,
    payload jsonb NOT NULL,                                              -- the Score as sent
    state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sending', 'sent', 'superseded', 'failed')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts BETWEEN 0 AND 8),
    queued_at timestamptz NOT NULL DEFAULT now(),
    enqueued_at timestamptz,
    claimed_at timestamptz,
    sent_at timestamptz,
    status_code integer,                                                 -- the platform's last answer
    detail text CHECK (length(detail) <= 500),
    CONSTRAINT lti_score_once UNIQUE (upload_id, link_id)                -- the idempotency key
);
CREATE INDEX lti_score_unsettled ON lti_score (queued_at) WHERE state IN ('queued', 'sending');
CREATE INDEX lti_score_link_state ON lti_score (link_id, state);
CREATE INDEX lti_score_student ON lti_score (student_id);

-- Each roster sync and what it found.
CREATE TABLE lti_sync (
    id uuid PRIMARY KEY,
    link_id uuid NOT NULL REFERENCES lti_link (id) ON DELETE CASCADE,
    trigger text NOT NULL CHECK (trigger IN ('console', 'schedule')),
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    report jsonb,                                                        -- the sync's report as answered
    detail text CHECK (length(detail) <= 500)
);
CREATE INDEX lti_sync_link ON lti_sync (link_id, started_at DESC);

-- What a launch last found a teacher's LMS role to be, per (LTI user, exam): a launch adds or raises
-- a member only when the LMS role is higher than this (a real change in the LMS), so a member an
-- owner removed or lowered stays so until the LMS role itself rises.
CREATE TABLE lti_grant (
    lti_user_id bigint NOT NULL REFERENCES lti_user (id) ON DELETE CASCADE,
    exam_id bigint NOT NULL REFERENCES exam (id) ON DELETE CASCADE,
    lms_role text NOT NULL CHECK (lms_role IN ('owner', 'co_examiner', 'grader', 'invigilator')),
    launched_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (lti_user_id, exam_id)
);
CREATE INDEX lti_grant_exam ON lti_grant (exam_id);
