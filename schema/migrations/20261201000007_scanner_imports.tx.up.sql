-- The Modulo side of the scanner data: technology assets with their properties, the
-- vulnerability catalogue, and occurrences of vulnerabilities on assets, written by the
-- Import Assets / Import Vulnerabilities from Qualys / NeXpose tasks (see ../README).

-- Asset properties as Modulo Risk Manager has them. Scanner assets are keyed by the scanner's
-- own ID: identity_key 'qualys:<API server>:<host ID>' or 'nexpose:<console>:<asset ID>', so a
-- host keeps its asset when it moves between asset groups or sites, and a connector and a task
-- of the same scanner share it. edited_fields lists the properties an admin changed through
-- the API; imports keep their values unless the task says scanner values overwrite local edits.
ALTER TABLE assets
    ADD COLUMN name          text     NOT NULL DEFAULT '',
    ADD COLUMN asset_type    text     NOT NULL DEFAULT 'technology',
    ADD COLUMN description   text     NOT NULL DEFAULT '',
    ADD COLUMN host_address  text     NOT NULL DEFAULT '',
    ADD COLUMN dns           text     NOT NULL DEFAULT '',
    ADD COLUMN netbios       text     NOT NULL DEFAULT '',
    ADD COLUMN relevance     smallint NOT NULL DEFAULT 3,
    ADD COLUMN criticality   smallint,
    ADD COLUMN responsible   text     NOT NULL DEFAULT '',
    ADD COLUMN source        text     NOT NULL DEFAULT 'ldap',
    ADD COLUMN vendor_id     text     NOT NULL DEFAULT '',
    ADD COLUMN edited_fields text[]   NOT NULL DEFAULT '{}',
    ADD COLUMN content_hash  text     NOT NULL DEFAULT '',
    ADD CONSTRAINT assets_relevance_check CHECK (relevance BETWEEN 1 AND 5),
    ADD CONSTRAINT assets_criticality_check CHECK (criticality BETWEEN 0 AND 100),
    ADD CONSTRAINT assets_name_check CHECK (length(name) <= 400),
    ADD CONSTRAINT assets_host_address_check CHECK (length(host_address) <= 100),
    ADD CONSTRAINT assets_source_check CHECK (source IN ('ldap', 'qualys', 'nexpose', 'xml'));
UPDATE assets SET name = CASE WHEN fqdn <> '' THEN fqdn ELSE hostname END,
                  host_address = left(CASE WHEN fqdn <> '' THEN fqdn ELSE hostname END, 100);
CREATE INDEX assets_name_idx ON assets (name, id);

-- vulnerabilities: the catalogue, one row per vendor vulnerability of one scanner server
-- (scope). level is Modulo's 1-5 (Qualys severity level; Nexpose score 9-10 -> 5 ... 0 -> 1),
-- NULL when the vendor's value is unknown.
CREATE TABLE vulnerabilities (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source           text        NOT NULL,
    scope            text        NOT NULL,
    vendor_id        text        NOT NULL,
    title            text        NOT NULL,
    level            smallint,
    severity         text        NOT NULL DEFAULT '',
    vendor_severity  text        NOT NULL DEFAULT '',
    cves             text[]      NOT NULL DEFAULT '{}',
    description      text        NOT NULL DEFAULT '',
    solution         text        NOT NULL DEFAULT '',
    description_html text        NOT NULL DEFAULT '',
    solution_html    text        NOT NULL DEFAULT '',
    content_hash     text        NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CONSTRAINT vulnerabilities_source_check CHECK (source IN ('qualys', 'nexpose', 'xml')),
    CONSTRAINT vulnerabilities_level_check CHECK (level BETWEEN 1 AND 5)
);
CREATE UNIQUE INDEX vulnerabilities_vendor_key ON vulnerabilities (source, scope, vendor_id);
CREATE INDEX vulnerabilities_cves_idx ON vulnerabilities USING gin (cves);

-- vulnerability_occurrences: a vulnerability found on an asset by port, protocol and instance
-- (Qualys SSL flag, Nexpose result key), as one import task sees it. identity is the same
-- matching key as a connector finding's. Status:
--   open, risk_accepted, not_vulnerable  as the scanner says (see findings)
--   closed   missing from a complete import (reopened when it returns)
--   expired  closed for longer than the task's expire_after_days: off the asset, no risk
--            score; deleted after delete_after_days, while occurrence_history keeps its story
-- probability is 5 for confirmed, 3 for potential, 1 for information gathered; the risk score
-- of an open occurrence is probability x the vulnerability's level x the asset's relevance.
-- asset_id and vulnerability_id carry no foreign keys, for the bulk speed of an import:
-- assets are never deleted, and catalogue rows only by a migration.
CREATE TABLE vulnerability_occurrences (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id          uuid        NOT NULL REFERENCES integration_tasks (id) ON DELETE CASCADE,
    identity         text        NOT NULL,
    asset_id         uuid        NOT NULL,
    vulnerability_id bigint      NOT NULL,
    source           text        NOT NULL,
    port             integer,
    protocol         text        NOT NULL DEFAULT '',
    instance         text        NOT NULL DEFAULT '',
    status           text        NOT NULL,
    detection_type   text        NOT NULL DEFAULT '',
    vendor_status    text        NOT NULL DEFAULT '',
    evidence         text        NOT NULL DEFAULT '',
    probability      smallint    NOT NULL,
    first_found      timestamptz,
    last_found       timestamptz,
    times_found      integer,
    content_hash     text        NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    closed_at        timestamptz,
    expired_at       timestamptz,
    CONSTRAINT occurrences_status_check CHECK (status IN ('open', 'risk_accepted', 'not_vulnerable', 'closed', 'expired')),
    CONSTRAINT occurrences_probability_check CHECK (probability BETWEEN 1 AND 5)
) WITH (fillfactor = 85);
CREATE UNIQUE INDEX occurrences_identity_key ON vulnerability_occurrences (task_id, identity);
CREATE INDEX occurrences_asset_idx ON vulnerability_occurrences (asset_id, id);
CREATE INDEX occurrences_vulnerability_idx ON vulnerability_occurrences (vulnerability_id, id);

-- occurrence_history: what each run did to an occurrence. No foreign key: the history stays
-- when an expired occurrence is deleted.
CREATE TABLE occurrence_history (
    occurrence_id bigint      NOT NULL,
    run_id        uuid        NOT NULL,
    action        text        NOT NULL,
    at            timestamptz NOT NULL,
    PRIMARY KEY (occurrence_id, run_id),
    CONSTRAINT occurrence_history_action_check CHECK (action IN ('created', 'updated', 'closed', 'reopened', 'expired', 'deleted'))
);

-- scanner_imports: one row per import run and task, written in the apply's transaction: a
-- retried attempt finds the import it already applied and reports the same counts.
CREATE TABLE scanner_imports (
    run_id     uuid        NOT NULL,
    task_id    uuid        NOT NULL REFERENCES integration_tasks (id) ON DELETE CASCADE,
    counts     jsonb       NOT NULL,
    applied_at timestamptz NOT NULL,
    PRIMARY KEY (run_id, task_id)
);

-- Connector findings point at the asset they were found on (created from the host data when
-- no import has created it yet), so an asset shows what every source says about it.
ALTER TABLE findings ADD COLUMN asset_id uuid;
CREATE INDEX findings_asset_idx ON findings (asset_id) WHERE asset_id IS NOT NULL;

ALTER TABLE asset_sources DROP CONSTRAINT asset_sources_type_check,
    ADD CONSTRAINT asset_sources_type_check CHECK (source_type IN ('ldap', 'qualys', 'nexpose', 'xml', 'connector'));
