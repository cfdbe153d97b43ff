DROP INDEX assets_ip_addresses_idx;
DROP INDEX assets_host_address_idx;
DROP INDEX events_source_key;
ALTER TABLE events DROP COLUMN content_hash, DROP COLUMN source_key, DROP COLUMN source_task_id;
DROP TABLE import_record_issues;
DROP TABLE xml_imports;
