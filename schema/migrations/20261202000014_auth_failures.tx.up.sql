-- auth_failures: failed authentications by client address, shared by every API server
-- replica so that the limit on them holds across replicas (see ../README "Security"). Rows
-- older than a few minutes are pruned; nothing here needs to survive a crash (UNLOGGED).
CREATE UNLOGGED TABLE auth_failures (
    addr text        NOT NULL,
    at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX auth_failures_at_idx ON auth_failures (at, addr);
