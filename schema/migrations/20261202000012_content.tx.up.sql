-- Live Update content (see ../README "Live Update"): every applied update of a source is a
-- content version with its items; exactly one version of a source is current, and an admin
-- can make the previous one current again (a rollback). Items are never updated in place.
CREATE TABLE content_versions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id        uuid        REFERENCES integration_tasks (id) ON DELETE SET NULL,
    source         text        NOT NULL,
    version        text        NOT NULL,
    released_at    timestamptz,
    etag           text        NOT NULL DEFAULT '',
    last_modified  text        NOT NULL DEFAULT '',
    sha256         text        NOT NULL,
    items          integer     NOT NULL,
    counts         jsonb       NOT NULL,
    run_id         uuid        NOT NULL,
    current        boolean     NOT NULL DEFAULT false,
    applied_at     timestamptz NOT NULL,
    rolled_back_at timestamptz,
    CONSTRAINT content_versions_source_check CHECK (source IN ('kev'))
);
CREATE UNIQUE INDEX content_versions_run_key ON content_versions (run_id);
CREATE UNIQUE INDEX content_versions_current_key ON content_versions (source) WHERE current;
CREATE INDEX content_versions_source_idx ON content_versions (source, id DESC);

-- known_exploited: the CISA Known Exploited Vulnerabilities catalogue, per version.
CREATE TABLE known_exploited (
    version_id        bigint NOT NULL REFERENCES content_versions (id) ON DELETE CASCADE,
    cve_id            text   NOT NULL,
    vendor_project    text   NOT NULL DEFAULT '',
    product           text   NOT NULL DEFAULT '',
    name              text   NOT NULL DEFAULT '',
    date_added        date   NOT NULL,
    short_description text   NOT NULL DEFAULT '',
    required_action   text   NOT NULL DEFAULT '',
    due_date          date,
    ransomware_use    text   NOT NULL DEFAULT '',
    notes             text   NOT NULL DEFAULT '',
    cwes              text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (version_id, cve_id)
);

-- The current catalogue, for the vulnerability listings and the reporting schema.
CREATE VIEW known_exploited_current AS
    SELECT k.* FROM known_exploited k JOIN content_versions v ON v.id = k.version_id AND v.current AND v.source = 'kev';

CREATE VIEW reporting.known_exploited AS
    SELECT cve_id, vendor_project, product, name, date_added, short_description, required_action, due_date, ransomware_use, notes, cwes
    FROM known_exploited_current;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tributary_reporting') THEN
        GRANT SELECT ON reporting.known_exploited TO tributary_reporting;
    END IF;
END
$$;
