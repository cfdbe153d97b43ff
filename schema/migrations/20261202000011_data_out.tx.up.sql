-- Data out (see ../README "Data out"): database connections, saved queries over the
-- reporting schema, and what each export last wrote.

-- db_connections: target databases, used by name from the data-out tasks. password is
-- sealed with the secret keys (never shown).
CREATE TABLE db_connections (
    id         uuid PRIMARY KEY,
    name       text        NOT NULL,
    db_type    text        NOT NULL,
    host       text        NOT NULL,
    port       integer     NOT NULL,
    database   text        NOT NULL,
    username   text        NOT NULL,
    password   text        NOT NULL DEFAULT '',
    tls_mode   text        NOT NULL DEFAULT 'require',
    ca_pem     text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT db_connections_name_check CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT db_connections_type_check CHECK (db_type IN ('postgres', 'mysql')),
    CONSTRAINT db_connections_port_check CHECK (port BETWEEN 1 AND 65535),
    CONSTRAINT db_connections_tls_check CHECK (tls_mode IN ('disable', 'require', 'verify-ca', 'verify-full'))
);
CREATE UNIQUE INDEX db_connections_name_key ON db_connections (lower(name));

-- saved_queries: SQL over the reporting schema, checked when saved; columns are the result's
-- columns (name and type) as the database described them.
CREATE TABLE saved_queries (
    id          uuid PRIMARY KEY,
    name        text        NOT NULL,
    sql         text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    columns     jsonb       NOT NULL DEFAULT '[]',
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT saved_queries_name_check CHECK (length(name) BETWEEN 1 AND 400),
    CONSTRAINT saved_queries_sql_check CHECK (length(sql) BETWEEN 1 AND 100000),
    CONSTRAINT saved_queries_description_check CHECK (length(description) <= 2000)
);
CREATE UNIQUE INDEX saved_queries_name_key ON saved_queries (lower(name));

-- export_tables: what an export task last wrote to each target table: the columns (for the
-- schema-change policy), rows, when.
CREATE TABLE export_tables (
    task_id       uuid        NOT NULL REFERENCES integration_tasks (id) ON DELETE CASCADE,
    connection_id uuid        NOT NULL REFERENCES db_connections (id) ON DELETE CASCADE,
    table_name    text        NOT NULL,
    columns       jsonb       NOT NULL,
    rows          bigint      NOT NULL,
    run_id        uuid        NOT NULL,
    refreshed_at  timestamptz NOT NULL,
    PRIMARY KEY (task_id, connection_id, table_name)
);

-- The reporting schema: stable, documented views that saved queries and scripts read. They
-- leave out internal columns (hashes, HTML, configuration and its secrets). Add views here as
-- the model grows, and grant them to tributary_reporting.
CREATE SCHEMA reporting;

CREATE VIEW reporting.products AS
    SELECT id, name, description, created_at, updated_at FROM products;

CREATE VIEW reporting.findings AS
    SELECT f.id, p.id AS product_id, p.name AS product_name, t.connector_id, f.record_id, f.title, f.severity, f.vendor_severity,
        f.vendor_id, f.cves, f.host, f.ip, f.port, f.protocol, f.status, f.active, f.detection_type, f.vendor_status,
        f.first_seen, f.last_seen, f.inactivated_at, f.asset_id, f.created_at, f.updated_at
    FROM findings f JOIN tests t ON t.id = f.test_id JOIN engagements e ON e.id = t.engagement_id JOIN products p ON p.id = e.product_id;

CREATE VIEW reporting.assets AS
    SELECT id, name, asset_type, description, host_address, dns, netbios, ip_addresses, os, relevance, criticality, responsible,
        source, vendor_id, status, first_seen_at, last_seen_at, created_at, updated_at
    FROM assets;

CREATE VIEW reporting.vulnerabilities AS
    SELECT id, source, scope, vendor_id, title, level, severity, vendor_severity, cves, description, solution, created_at, updated_at
    FROM vulnerabilities;

CREATE VIEW reporting.occurrences AS
    SELECT o.id, o.task_id, o.asset_id, o.vulnerability_id, o.source, o.port, o.protocol, o.instance, o.status, o.detection_type,
        o.vendor_status, o.probability,
        CASE WHEN o.status IN ('closed', 'expired') THEN 0 ELSE o.probability * COALESCE(v.level, 1) * a.relevance END AS risk_score,
        o.first_found, o.last_found, o.times_found, o.created_at, o.updated_at, o.closed_at, o.expired_at
    FROM vulnerability_occurrences o JOIN vulnerabilities v ON v.id = o.vulnerability_id JOIN assets a ON a.id = o.asset_id;

CREATE VIEW reporting.events AS
    SELECT id, event_type, title, description, urgency, severity, relevance, priority, status, progress, responsible, parent_id,
        created_by, created_at, updated_at, closed_at
    FROM events;

CREATE VIEW reporting.runs AS
    SELECT id, kind, task_id, task_type, connector_id, subject_name, trigger, status, started_at, ended_at, duration_ms, attempt,
        counts, error
    FROM runs;

CREATE VIEW reporting.tasks AS
    SELECT id, name, type, enabled, created_at, updated_at FROM integration_tasks;

-- tributary_reporting: the role user SQL runs as. It can only read the reporting schema (the
-- views read the tables with their owner's rights). Created here when Tributary's database
-- user may create roles; otherwise the README gives the statements an admin runs once. Saved
-- queries run on a connection of their own as this role (REPORTING_DATABASE_URL), never as
-- Tributary's user: a role set with SET ROLE could be reset by the SQL it runs.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tributary_reporting')
       AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
        BEGIN
            CREATE ROLE tributary_reporting NOLOGIN;
            ALTER ROLE tributary_reporting SET default_transaction_read_only = on;
            ALTER ROLE tributary_reporting SET statement_timeout = '300s';
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- created meanwhile by the migration of another database of the cluster
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tributary_reporting') THEN
        GRANT USAGE ON SCHEMA reporting TO tributary_reporting;
        GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO tributary_reporting;
    END IF;
END
$$;
