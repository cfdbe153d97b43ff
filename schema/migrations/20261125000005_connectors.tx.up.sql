-- Connectors (Qualys VM, Rapid7 Nexpose): records found by Discover, the
-- Product -> Engagement -> Test -> Finding hierarchy that Sync reimports into, and the
-- import history of every Test.

ALTER TABLE connectors ADD COLUMN description text NOT NULL DEFAULT '';

CREATE TABLE products (
    id          uuid PRIMARY KEY,
    name        text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX products_name_key ON products (lower(name));

CREATE TABLE engagements (
    id         uuid PRIMARY KEY,
    product_id uuid        NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX engagements_product_name_key ON engagements (product_id, name);

-- connector_records: one per vendor-equivalent product (Qualys asset group, Nexpose site).
-- vendor_missing is set when Discover no longer finds the vendor object; the record and its
-- mapping stay, so that a returning object keeps its findings.
CREATE TABLE connector_records (
    id                 uuid PRIMARY KEY,
    connector_id       uuid        NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    vendor_id          text        NOT NULL,
    vendor_kind        text        NOT NULL,
    name               text        NOT NULL,
    state              text        NOT NULL DEFAULT 'unmapped',
    product_id         uuid        REFERENCES products (id) ON DELETE RESTRICT,
    vendor_missing     boolean     NOT NULL DEFAULT false,
    missing_since      timestamptz,
    first_seen_at      timestamptz NOT NULL,
    last_seen_at       timestamptz NOT NULL,
    last_discover_run  uuid,
    -- The Discover runs that created, renamed, lost and found back the record: counts of a
    -- run are a query, the same for a retried attempt as for one clean run.
    created_run        uuid,
    renamed_run        uuid,
    missing_run        uuid,
    returned_run       uuid,
    last_sync_run      uuid,
    last_sync_at       timestamptz,
    last_sync_status   text        NOT NULL DEFAULT '',
    last_sync_error    text        NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT connector_records_state_check CHECK (state IN ('unmapped', 'mapped', 'ignored')),
    CONSTRAINT connector_records_mapped_check CHECK ((state = 'mapped') = (product_id IS NOT NULL))
);
CREATE UNIQUE INDEX connector_records_vendor_key ON connector_records (connector_id, vendor_id);
CREATE INDEX connector_records_state_idx ON connector_records (connector_id, state, lower(name), id);

-- tests: one per connector inside a product's "Global Connectors" engagement.
CREATE TABLE tests (
    id            uuid PRIMARY KEY,
    engagement_id uuid        NOT NULL REFERENCES engagements (id) ON DELETE CASCADE,
    connector_id  uuid        NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    title         text        NOT NULL,
    test_type     text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tests_engagement_connector_key ON tests (engagement_id, connector_id);

-- findings: identity is the matching key across scans (see README "Finding identity"); a
-- Test may hold findings of several records mapped to one product, so a reimport only
-- touches its own record's findings. content_hash covers every field but first/last seen.
-- record_id has no foreign key on purpose: a reimport inserts thousands of rows at once and
-- each key is a per-row check; records are only deleted with their connector, whose tests
-- (and so findings) go with it. Indexes are kept to three, and pages keep 15% free, so that
-- a reimport's updates of changed findings can be HOT updates.
CREATE TABLE findings (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    test_id          uuid        NOT NULL REFERENCES tests (id) ON DELETE CASCADE,
    record_id        uuid        NOT NULL,
    identity         text        NOT NULL,
    title            text        NOT NULL,
    severity         text        NOT NULL,
    vendor_severity  text        NOT NULL,
    vendor_id        text        NOT NULL,
    cves             text[]      NOT NULL DEFAULT '{}',
    host             text        NOT NULL DEFAULT '',
    ip               text        NOT NULL DEFAULT '',
    port             integer,
    protocol         text        NOT NULL DEFAULT '',
    description      text        NOT NULL DEFAULT '',
    solution         text        NOT NULL DEFAULT '',
    evidence         text        NOT NULL DEFAULT '',
    first_seen       timestamptz,
    last_seen        timestamptz,
    active           boolean     NOT NULL DEFAULT true,
    content_hash     text        NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    inactivated_at   timestamptz,
    CONSTRAINT findings_severity_check CHECK (severity IN ('Critical', 'High', 'Medium', 'Low', 'Info'))
) WITH (fillfactor = 85);
CREATE UNIQUE INDEX findings_identity_key ON findings (test_id, record_id, identity);
CREATE INDEX findings_test_active_idx ON findings (test_id, active, id);

-- test_imports: the import history of a Test, one row per record per sync run. The unique
-- key makes a retried reimport find the one it already applied.
CREATE TABLE test_imports (
    id           uuid PRIMARY KEY,
    test_id      uuid        NOT NULL REFERENCES tests (id) ON DELETE CASCADE,
    record_id    uuid        NOT NULL REFERENCES connector_records (id) ON DELETE CASCADE,
    run_id       uuid        NOT NULL,
    started_at   timestamptz NOT NULL,
    applied_at   timestamptz NOT NULL,
    total        integer     NOT NULL,
    created      integer     NOT NULL,
    updated      integer     NOT NULL,
    reactivated  integer     NOT NULL,
    inactivated  integer     NOT NULL,
    unchanged    integer     NOT NULL
);
CREATE UNIQUE INDEX test_imports_run_record_key ON test_imports (run_id, record_id);
CREATE INDEX test_imports_test_idx ON test_imports (test_id, applied_at DESC, id DESC);

-- finding_actions: what each import did to a finding (unchanged findings get no row).
-- finding_id has no foreign key for the same reason as findings.record_id: the rows go with
-- their import, which goes with its test.
CREATE TABLE finding_actions (
    finding_id bigint NOT NULL,
    import_id  uuid   NOT NULL REFERENCES test_imports (id) ON DELETE CASCADE,
    action     text   NOT NULL,
    CONSTRAINT finding_actions_action_check CHECK (action IN ('created', 'updated', 'reactivated', 'inactivated')),
    PRIMARY KEY (finding_id, import_id)
);
CREATE INDEX finding_actions_import_idx ON finding_actions (import_id);
