CREATE TABLE integration_tasks (
    id                   uuid PRIMARY KEY,
    type                 text        NOT NULL,
    name                 text        NOT NULL,
    description          text        NOT NULL DEFAULT '',
    config               jsonb       NOT NULL,
    schedule             text        NOT NULL DEFAULT '',
    timezone             text        NOT NULL DEFAULT 'UTC',
    enabled              boolean     NOT NULL DEFAULT true,
    overlap_policy       text        NOT NULL DEFAULT 'skip',
    max_duration_seconds integer     NOT NULL DEFAULT 3600,
    max_attempts         integer     NOT NULL DEFAULT 3,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT integration_tasks_overlap_policy_check CHECK (overlap_policy IN ('skip', 'buffer_one')),
    CONSTRAINT integration_tasks_max_duration_check CHECK (max_duration_seconds BETWEEN 1 AND 604800),
    CONSTRAINT integration_tasks_max_attempts_check CHECK (max_attempts BETWEEN 1 AND 100)
);

CREATE UNIQUE INDEX integration_tasks_name_key ON integration_tasks (lower(name));
CREATE INDEX integration_tasks_type_idx ON integration_tasks (type);

CREATE TABLE connectors (
    id                uuid PRIMARY KEY,
    tool_type         text        NOT NULL,
    name              text        NOT NULL,
    base_url          text        NOT NULL,
    config            jsonb       NOT NULL DEFAULT '{}'::jsonb,
    discover_schedule text        NOT NULL DEFAULT '',
    sync_schedule     text        NOT NULL DEFAULT '',
    timezone          text        NOT NULL DEFAULT 'UTC',
    enabled           boolean     NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT connectors_tool_type_check CHECK (tool_type IN ('qualys', 'nexpose'))
);

CREATE UNIQUE INDEX connectors_name_key ON connectors (lower(name));

-- runs is the run history of every task and connector operation. task_id and connector_id
-- carry no foreign key on purpose: history outlives the configuration it ran.
CREATE TABLE runs (
    id              uuid PRIMARY KEY,
    kind            text        NOT NULL,
    task_id         uuid,
    task_type       text,
    connector_id    uuid,
    subject_name    text        NOT NULL DEFAULT '',
    trigger         text        NOT NULL,
    triggered_by    text        NOT NULL DEFAULT '',
    status          text        NOT NULL,
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    duration_ms     bigint,
    workflow_id     text        NOT NULL,
    workflow_run_id text        NOT NULL DEFAULT '',
    attempt         integer     NOT NULL DEFAULT 1,
    counts          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    details         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    error           text        NOT NULL DEFAULT '',
    CONSTRAINT runs_kind_check CHECK (kind IN ('task', 'connector_discover', 'connector_sync')),
    CONSTRAINT runs_trigger_check CHECK (trigger IN ('scheduled', 'manual', 'api')),
    CONSTRAINT runs_status_check CHECK (status IN ('running', 'succeeded', 'failed', 'skipped', 'cancelled', 'timed_out')),
    CONSTRAINT runs_subject_check CHECK ((task_id IS NOT NULL) <> (connector_id IS NOT NULL)),
    CONSTRAINT runs_ended_check CHECK ((status = 'running') = (ended_at IS NULL))
);

-- Keyset pagination: every listing orders by (started_at DESC, id DESC); each filter that
-- narrows a listing has an index that leads with it.
CREATE INDEX runs_started_idx ON runs (started_at DESC, id DESC);
CREATE INDEX runs_task_started_idx ON runs (task_id, started_at DESC, id DESC) WHERE task_id IS NOT NULL;
CREATE INDEX runs_task_status_started_idx ON runs (task_id, status, started_at DESC, id DESC) WHERE task_id IS NOT NULL;
CREATE INDEX runs_connector_started_idx ON runs (connector_id, started_at DESC, id DESC) WHERE connector_id IS NOT NULL;
CREATE INDEX runs_connector_status_started_idx ON runs (connector_id, status, started_at DESC, id DESC) WHERE connector_id IS NOT NULL;
CREATE INDEX runs_status_started_idx ON runs (status, started_at DESC, id DESC);
CREATE INDEX runs_kind_started_idx ON runs (kind, started_at DESC, id DESC);
CREATE INDEX runs_trigger_started_idx ON runs (trigger, started_at DESC, id DESC);
CREATE INDEX runs_running_idx ON runs (started_at) WHERE status = 'running';
CREATE INDEX runs_workflow_run_idx ON runs (workflow_run_id) WHERE workflow_run_id <> '';
