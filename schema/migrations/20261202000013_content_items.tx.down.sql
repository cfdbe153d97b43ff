DROP VIEW reporting.content_items;
DROP VIEW nvd_current;
DROP TABLE content_staging;
DROP TABLE content_items;
DELETE FROM content_versions WHERE source <> 'kev';
ALTER TABLE content_versions DROP COLUMN watermark;
ALTER TABLE content_versions DROP CONSTRAINT content_versions_source_check;
ALTER TABLE content_versions ADD CONSTRAINT content_versions_source_check CHECK (source IN ('kev'));
