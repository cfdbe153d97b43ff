ALTER TABLE asset_sources DROP CONSTRAINT asset_sources_type_check,
    ADD CONSTRAINT asset_sources_type_check CHECK (source_type IN ('ldap', 'qualys', 'nexpose', 'xml'));
DROP INDEX findings_asset_idx;
ALTER TABLE findings DROP COLUMN asset_id;
DROP TABLE scanner_imports, occurrence_history, vulnerability_occurrences, vulnerabilities;
DROP INDEX assets_name_idx;
ALTER TABLE assets DROP CONSTRAINT assets_source_check, DROP CONSTRAINT assets_host_address_check,
    DROP CONSTRAINT assets_name_check, DROP CONSTRAINT assets_criticality_check, DROP CONSTRAINT assets_relevance_check,
    DROP COLUMN content_hash, DROP COLUMN edited_fields, DROP COLUMN vendor_id, DROP COLUMN source, DROP COLUMN responsible,
    DROP COLUMN criticality, DROP COLUMN relevance, DROP COLUMN netbios, DROP COLUMN dns, DROP COLUMN host_address,
    DROP COLUMN description, DROP COLUMN asset_type, DROP COLUMN name;
