-- One sealed check value per encryption key that has sealed stored secrets: a process
-- started with a different key for the same ID refuses to start.
CREATE TABLE secret_key_checks (
    key_id     text PRIMARY KEY,
    sealed     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
