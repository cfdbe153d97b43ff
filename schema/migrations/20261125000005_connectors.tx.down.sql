DROP TABLE IF EXISTS finding_actions;
DROP TABLE IF EXISTS test_imports;
DROP TABLE IF EXISTS findings;
DROP TABLE IF EXISTS tests;
DROP TABLE IF EXISTS connector_records;
DROP TABLE IF EXISTS engagements;
DROP TABLE IF EXISTS products;
ALTER TABLE connectors DROP COLUMN IF EXISTS description;
