-- Live Update content items (see ../README "Live Update"): the NVD vulnerability knowledge
-- base, MITRE ATT&CK threats and OSCAL control catalogues. Unlike the small KEV catalogue
-- (copied whole per version), these are versioned per item: a row is valid from the version
-- that wrote it (from_version) until the version that replaced it (to_version; NULL while
-- current). A delta of 2,000 CVEs writes 2,000 rows, not 300,000, and rolling a version back
-- deletes the rows it wrote and reopens the rows it closed.
--
-- origin says who wrote an item: the publisher's feed ('nvd', 'attack', 'oscal') or 'customer'
-- (a customer's own or copied item, with no version: a feed never touches it).
ALTER TABLE content_versions DROP CONSTRAINT content_versions_source_check;
ALTER TABLE content_versions ADD CONSTRAINT content_versions_source_check CHECK (source IN ('kev', 'nvd', 'attack', 'oscal'));
-- watermark: the NVD lastModEndDate up to which the version holds every change.
ALTER TABLE content_versions ADD COLUMN watermark timestamptz;

CREATE TABLE content_items (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source       text        NOT NULL,
    origin       text        NOT NULL,
    item_id      text        NOT NULL,
    kind         text        NOT NULL,
    external_id  text        NOT NULL DEFAULT '',
    name         text        NOT NULL DEFAULT '',
    description  text        NOT NULL DEFAULT '',
    score        numeric(3,1),
    severity     text        NOT NULL DEFAULT '',
    state        text        NOT NULL DEFAULT 'active',
    modified     timestamptz,
    hash         text        NOT NULL,
    data         jsonb       NOT NULL DEFAULT '{}',
    from_version bigint      REFERENCES content_versions (id) ON DELETE CASCADE,
    to_version   bigint      REFERENCES content_versions (id) ON DELETE SET NULL,
    copied_from  bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT content_items_source_check CHECK (source IN ('nvd', 'attack', 'oscal')),
    CONSTRAINT content_items_state_check CHECK (state IN ('active', 'deprecated', 'revoked', 'rejected', 'withdrawn')),
    CONSTRAINT content_items_origin_check CHECK ((origin = 'customer') = (from_version IS NULL))
);
-- One current item per source, origin and ID; the publisher's and a customer's copy coexist.
CREATE UNIQUE INDEX content_items_current_key ON content_items (source, origin, item_id) WHERE to_version IS NULL;
CREATE INDEX content_items_from_idx ON content_items (from_version);
CREATE INDEX content_items_to_idx ON content_items (to_version) WHERE to_version IS NOT NULL;
CREATE INDEX content_items_kind_idx ON content_items (source, kind, external_id) WHERE to_version IS NULL;
CREATE INDEX content_items_rel_source_idx ON content_items ((data ->> 'source_ref')) WHERE kind = 'relationship' AND to_version IS NULL;
CREATE INDEX content_items_rel_target_idx ON content_items ((data ->> 'target_ref')) WHERE kind = 'relationship' AND to_version IS NULL;

-- content_staging: a run's items as fetched, page by page (COPY, no key: an item staged twice,
-- by a page asked again after a retry or a CVE modified while the NVD was paged, is reduced to
-- its latest before the diff), kept across retries of the run: a retried NVD load resumes at
-- its next page.
CREATE UNLOGGED TABLE content_staging (
    seq         bigint      GENERATED ALWAYS AS IDENTITY,
    run_id      uuid        NOT NULL,
    item_id     text        NOT NULL,
    kind        text        NOT NULL,
    external_id text        NOT NULL,
    name        text        NOT NULL,
    description text        NOT NULL,
    score       numeric(3,1),
    severity    text        NOT NULL,
    state       text        NOT NULL,
    modified    timestamptz,
    hash        text        NOT NULL,
    data        jsonb       NOT NULL
);
CREATE INDEX content_staging_item_idx ON content_staging (run_id, item_id);

-- The NVD's word on each CVE, for the vulnerability catalogue's listings.
CREATE VIEW nvd_current AS
    SELECT item_id AS cve_id, description, score, severity, state, modified, data
    FROM content_items WHERE source = 'nvd' AND origin = 'nvd' AND to_version IS NULL;
CREATE UNIQUE INDEX content_items_nvd_key ON content_items (item_id) WHERE source = 'nvd' AND origin = 'nvd' AND to_version IS NULL;

CREATE VIEW reporting.content_items AS
    SELECT source, origin, item_id, kind, external_id, name, description, score, severity, state, modified, data
    FROM content_items WHERE to_version IS NULL;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tributary_reporting') THEN
        GRANT SELECT ON reporting.content_items TO tributary_reporting;
    END IF;
END
$$;
