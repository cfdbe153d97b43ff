-- The XML file imports (Import Assets / Events / Vulnerabilities from XML File, see ../README).

-- xml_imports: one row per applied XML import run, written in the apply's transaction with
-- its scanner_imports row: which file the run imported. A task in "always new" event mode
-- does not import a file (by SHA-256) a second time.
CREATE TABLE xml_imports (
    run_id      uuid        PRIMARY KEY,
    task_id     uuid        NOT NULL REFERENCES integration_tasks (id) ON DELETE CASCADE,
    file_id     uuid        NOT NULL,
    file_sha256 text        NOT NULL,
    records     bigint      NOT NULL,
    applied_at  timestamptz NOT NULL
);
CREATE INDEX xml_imports_task_file_idx ON xml_imports (task_id, file_sha256);

-- import_record_issues: the records of an import run that failed (a value missing, out of
-- range or unconvertible: nothing of the record was stored) or were skipped (a host without
-- an asset, a detection type the task leaves out), and warnings on records that were
-- stored; with the record's number and line in the file, the field and the reason. Written
-- with the apply, or on their own when the run fails on its error threshold.
CREATE TABLE import_record_issues (
    run_id  uuid    NOT NULL,
    number  integer NOT NULL,
    line    integer NOT NULL,
    outcome text    NOT NULL,
    field   text    NOT NULL DEFAULT '',
    message text    NOT NULL,
    CONSTRAINT import_record_issues_outcome_check CHECK (outcome IN ('failed', 'skipped', 'warning'))
);
CREATE INDEX import_record_issues_run_idx ON import_record_issues (run_id, number);

-- Events an import created carry the task and the record's key: a record with a key the task
-- imported before updates that event. content_hash says whether the record changed.
ALTER TABLE events
    ADD COLUMN source_task_id uuid REFERENCES integration_tasks (id) ON DELETE SET NULL,
    ADD COLUMN source_key     text,
    ADD COLUMN content_hash   text NOT NULL DEFAULT '';
CREATE UNIQUE INDEX events_source_key ON events (source_task_id, source_key) WHERE source_key IS NOT NULL;

-- Occurrences of an XML import find their asset by host address or IP.
CREATE INDEX assets_host_address_idx ON assets (lower(host_address));
CREATE INDEX assets_ip_addresses_idx ON assets USING gin (ip_addresses);
