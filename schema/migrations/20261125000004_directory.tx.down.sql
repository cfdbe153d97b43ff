DROP TABLE IF EXISTS asset_sources;
DROP TABLE IF EXISTS assets;
DROP TABLE IF EXISTS directory_sync_state;
DROP TABLE IF EXISTS directory_members;
DROP TABLE IF EXISTS directory_objects;
