DROP TABLE IF EXISTS secret_key_checks;
