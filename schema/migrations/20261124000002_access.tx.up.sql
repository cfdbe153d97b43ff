-- API tokens: only a SHA-256 hash of each token is stored; the token itself is shown once.
CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    name         text        NOT NULL,
    role         text        NOT NULL,
    token_hash   bytea       NOT NULL,
    prefix       text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text        NOT NULL DEFAULT '',
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT api_tokens_role_check CHECK (role IN ('admin', 'operator', 'viewer'))
);

CREATE UNIQUE INDEX api_tokens_hash_key ON api_tokens (token_hash);

-- audit_events records every change and every manual trigger made through the API.
CREATE TABLE audit_events (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    actor         text        NOT NULL,
    token_id      uuid,
    remote_addr   text        NOT NULL,
    method        text        NOT NULL,
    route         text        NOT NULL,
    resource_id   text        NOT NULL DEFAULT '',
    status        integer     NOT NULL,
    summary       text        NOT NULL DEFAULT ''
);

CREATE INDEX audit_events_at_idx ON audit_events (at DESC, id DESC);
CREATE INDEX audit_events_actor_idx ON audit_events (actor, id DESC);
