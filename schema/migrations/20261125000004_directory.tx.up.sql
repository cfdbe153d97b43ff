-- directory_objects mirrors the users, groups and computers an LDAP import task found. An object
-- is keyed by the directory's stable identity (entryUUID on OpenLDAP, objectGUID on Active
-- Directory), never by its DN: moving an entry to another OU changes the DN, not the object.
--
-- The *_run_id columns make a run's counts a query over the table, so that a retried attempt
-- reports exactly what one clean run would: created_run_id is the run that first saw the object,
-- changed_run_id the last run that changed it, seen_run_id the last run that saw it, and
-- status_run_id the last run that changed its status.
CREATE TABLE directory_objects (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    task_id        uuid        NOT NULL REFERENCES integration_tasks (id) ON DELETE CASCADE,
    kind           text        NOT NULL,
    external_id    text        NOT NULL,
    dn             text        NOT NULL,
    dn_norm        text        NOT NULL,
    username       text        NOT NULL DEFAULT '',
    email          text        NOT NULL DEFAULT '',
    name           text        NOT NULL DEFAULT '',
    description    text        NOT NULL DEFAULT '',
    fqdn           text        NOT NULL DEFAULT '',
    hostname       text        NOT NULL DEFAULT '',
    ip_addresses   text[]      NOT NULL DEFAULT '{}',
    os             text        NOT NULL DEFAULT '',
    os_version     text        NOT NULL DEFAULT '',
    status         text        NOT NULL DEFAULT 'active',
    content_hash   text        NOT NULL,
    modified_at    timestamptz,
    first_seen_at  timestamptz NOT NULL,
    last_seen_at   timestamptz NOT NULL,
    created_run_id uuid        NOT NULL,
    changed_run_id uuid        NOT NULL,
    seen_run_id    uuid        NOT NULL,
    status_run_id  uuid,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT directory_objects_kind_check CHECK (kind IN ('user', 'group', 'computer')),
    CONSTRAINT directory_objects_status_check CHECK (status IN ('active', 'disabled', 'removed'))
) WITH (fillfactor = 80);
-- fillfactor leaves room on each page so that re-importing an unchanged object (which only
-- moves last_seen_at and seen_run_id, neither indexed) is a HOT update that rewrites no index.

CREATE UNIQUE INDEX directory_objects_identity_key ON directory_objects (task_id, kind, external_id);
CREATE INDEX directory_objects_dn_idx ON directory_objects (task_id, dn_norm);
-- Listings order by (lower(name), id) within a task and kind.
CREATE INDEX directory_objects_list_idx ON directory_objects (kind, task_id, status, name, id);

-- directory_members is the member list of each imported group, by DN as the directory gives it.
-- member_id points at the imported user, group (a nested group) or computer with that DN, or is
-- NULL while the DN is outside what the task imports.
CREATE TABLE directory_members (
    group_id       uuid NOT NULL REFERENCES directory_objects (id) ON DELETE CASCADE,
    member_dn_norm text NOT NULL,
    member_dn      text NOT NULL,
    member_id      uuid REFERENCES directory_objects (id) ON DELETE SET NULL,
    PRIMARY KEY (group_id, member_dn_norm)
);

CREATE INDEX directory_members_member_idx ON directory_members (member_id) WHERE member_id IS NOT NULL;

-- directory_sync_state remembers, per LDAP import task, when the last full import succeeded and
-- from which directory time the next incremental import must ask for changes.
CREATE TABLE directory_sync_state (
    task_id          uuid PRIMARY KEY REFERENCES integration_tasks (id) ON DELETE CASCADE,
    last_full_at     timestamptz,
    last_full_run_id uuid,
    changed_since    timestamptz,
    last_run_id      uuid,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- assets are the technology assets every import shares (LDAP computers now; scanner and XML
-- imports later). Identity rules, in order:
--   1. a source's own stable ID (asset_sources: LDAP objectGUID/entryUUID, Qualys host ID,
--      Nexpose asset ID) keeps pointing at the same asset, even after a rename;
--   2. otherwise the fully qualified domain name, lower-cased without a trailing dot
--      (identity_key 'fqdn:<name>');
--   3. otherwise the short host name (identity_key 'host:<name>').
-- IP addresses are attributes, not identity: DHCP hands them to other machines.
CREATE TABLE assets (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    identity_key  text        NOT NULL,
    fqdn          text        NOT NULL DEFAULT '',
    hostname      text        NOT NULL DEFAULT '',
    ip_addresses  text[]      NOT NULL DEFAULT '{}',
    os            text        NOT NULL DEFAULT '',
    os_version    text        NOT NULL DEFAULT '',
    status        text        NOT NULL DEFAULT 'active',
    first_seen_at timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT assets_status_check CHECK (status IN ('active', 'retired'))
);

CREATE UNIQUE INDEX assets_identity_key ON assets (identity_key);
CREATE INDEX assets_list_idx ON assets (status, hostname, id);

-- asset_sources links an asset to each source object that reports it.
CREATE TABLE asset_sources (
    asset_id     uuid        NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    source_type  text        NOT NULL,
    source_id    uuid        NOT NULL,
    external_id  text        NOT NULL,
    status       text        NOT NULL DEFAULT 'active',
    last_seen_at timestamptz NOT NULL,
    PRIMARY KEY (source_type, source_id, external_id),
    CONSTRAINT asset_sources_type_check CHECK (source_type IN ('ldap', 'qualys', 'nexpose', 'xml')),
    CONSTRAINT asset_sources_status_check CHECK (status IN ('active', 'disabled', 'removed'))
);

CREATE INDEX asset_sources_asset_idx ON asset_sources (asset_id);
