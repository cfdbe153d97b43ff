-- import_files: files uploaded through the API for the XML file imports, stored in Postgres so
-- that every worker can read them. The content is kept in chunks of at most 1 MiB
-- (import_file_chunks). An upload is one transaction (the chunks first, the file's row with its
-- size and SHA-256 last, hence the deferred key): a failed or cut upload leaves nothing.
-- Files are identified by their SHA-256: uploading the same bytes again returns the stored file.
CREATE TABLE import_files (
    id           uuid        PRIMARY KEY,
    name         text        NOT NULL,
    size         bigint      NOT NULL,
    sha256       text        NOT NULL,
    content_type text        NOT NULL DEFAULT '',
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL,
    CONSTRAINT import_files_name_check CHECK (length(name) BETWEEN 1 AND 400),
    CONSTRAINT import_files_sha256_check CHECK (sha256 ~ '^[0-9a-f]{64}$')
);
CREATE UNIQUE INDEX import_files_sha256_key ON import_files (sha256);
CREATE INDEX import_files_created_idx ON import_files (created_at DESC, id);

CREATE TABLE import_file_chunks (
    file_id uuid    NOT NULL REFERENCES import_files (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    seq     integer NOT NULL,
    data    bytea   NOT NULL,
    PRIMARY KEY (file_id, seq)
);
