-- The tributary_reporting role is cluster-wide and may serve other databases: it is kept.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tributary_reporting') THEN
        REVOKE ALL ON ALL TABLES IN SCHEMA reporting FROM tributary_reporting;
        REVOKE ALL ON SCHEMA reporting FROM tributary_reporting;
    END IF;
END
$$;
DROP SCHEMA reporting CASCADE;
DROP TABLE export_tables, saved_queries, db_connections;
