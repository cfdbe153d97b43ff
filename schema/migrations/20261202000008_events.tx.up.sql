-- The Workflow module (Modulo Risk Manager's events) and the Qualys remediation tickets that
-- the Synchronize Qualys Scanner Remediation task keeps events in step with (see ../README).

-- events: a unit of work. event_type is 'remediation' (the generic remediation type) or a
-- custom type. priority is urgency x severity x relevance, the order of Modulo's lists.
-- version counts every change, so that a client can tell that it saw the latest one.
CREATE TABLE events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_type  text        NOT NULL DEFAULT 'remediation',
    title       text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    urgency     smallint    NOT NULL DEFAULT 3,
    severity    smallint    NOT NULL DEFAULT 3,
    relevance   smallint    NOT NULL DEFAULT 3,
    priority    smallint    GENERATED ALWAYS AS (urgency * severity * relevance) STORED,
    status      text        NOT NULL DEFAULT 'open',
    progress    smallint    NOT NULL DEFAULT 0,
    responsible text        NOT NULL DEFAULT '',
    parent_id   bigint      REFERENCES events (id) ON DELETE SET NULL,
    created_by  text        NOT NULL,
    version     integer     NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    closed_at   timestamptz,
    CONSTRAINT events_type_check CHECK (length(event_type) BETWEEN 1 AND 100),
    CONSTRAINT events_title_check CHECK (length(title) BETWEEN 1 AND 2500),
    CONSTRAINT events_description_check CHECK (length(description) <= 5500),
    CONSTRAINT events_urgency_check CHECK (urgency BETWEEN 1 AND 5),
    CONSTRAINT events_severity_check CHECK (severity BETWEEN 1 AND 5),
    CONSTRAINT events_relevance_check CHECK (relevance BETWEEN 1 AND 5),
    CONSTRAINT events_status_check CHECK (status IN ('open', 'closed', 'cancelled')),
    CONSTRAINT events_progress_check CHECK (progress BETWEEN 0 AND 100),
    CONSTRAINT events_responsible_check CHECK (length(responsible) <= 400),
    CONSTRAINT events_parent_check CHECK (parent_id <> id)
);
CREATE INDEX events_priority_idx ON events (priority DESC, id);
CREATE INDEX events_parent_idx ON events (parent_id) WHERE parent_id IS NOT NULL;

-- event_occurrences: the vulnerability occurrences an event treats (one: a single-
-- vulnerability event; several: a consolidated event). No foreign key to the occurrence: the
-- link, with the asset and vulnerability it named, outlives a deleted expired occurrence.
-- resolved_at is set when the scanner says the occurrence was fixed (a closed ticket).
CREATE TABLE event_occurrences (
    event_id         bigint      NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    occurrence_id    bigint      NOT NULL,
    asset_id         uuid        NOT NULL,
    vulnerability_id bigint      NOT NULL,
    resolved_at      timestamptz,
    resolved_by      text        NOT NULL DEFAULT '',
    PRIMARY KEY (event_id, occurrence_id)
);
CREATE INDEX event_occurrences_occurrence_idx ON event_occurrences (occurrence_id);

-- event_assets: the assets an event is associated with.
CREATE TABLE event_assets (
    event_id bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    asset_id uuid   NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    PRIMARY KEY (event_id, asset_id)
);
CREATE INDEX event_assets_asset_idx ON event_assets (asset_id);

-- event_progress: dated progress entries by a person (through the API) or a task (run_id set).
-- source_key makes an entry that a task copies from elsewhere (a ticket's comment, a ticket's
-- state change) exist once per event however often the task runs.
CREATE TABLE event_progress (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    bigint      NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    author      text        NOT NULL,
    author_kind text        NOT NULL,
    run_id      uuid,
    body        text        NOT NULL,
    progress    smallint,
    source_key  text,
    created_at  timestamptz NOT NULL,
    CONSTRAINT event_progress_author_kind_check CHECK (author_kind IN ('person', 'task')),
    CONSTRAINT event_progress_body_check CHECK (length(body) BETWEEN 1 AND 5500),
    CONSTRAINT event_progress_progress_check CHECK (progress BETWEEN 0 AND 100)
);
CREATE INDEX event_progress_event_idx ON event_progress (event_id, id);
CREATE UNIQUE INDEX event_progress_source_key ON event_progress (event_id, source_key) WHERE source_key IS NOT NULL;

-- event_history: every change of an event, who made it and when. changes maps each changed
-- field to [old, new].
CREATE TABLE event_history (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id   bigint      NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    at         timestamptz NOT NULL,
    actor      text        NOT NULL,
    actor_kind text        NOT NULL,
    run_id     uuid,
    action     text        NOT NULL,
    changes    jsonb       NOT NULL DEFAULT '{}',
    CONSTRAINT event_history_actor_kind_check CHECK (actor_kind IN ('person', 'task')),
    CONSTRAINT event_history_action_check CHECK (action IN ('created', 'updated', 'closed', 'cancelled', 'reopened', 'progress'))
);
CREATE INDEX event_history_event_idx ON event_history (event_id, id);

-- remediation_tickets: the Qualys remediation tickets a Synchronize Qualys Scanner
-- Remediation task has read, with the occurrences each one describes (host and QID) and the
-- state the task last applied to events (applied_state): a ticket read again in the same
-- state changes nothing.
CREATE TABLE remediation_tickets (
    task_id        uuid        NOT NULL REFERENCES integration_tasks (id) ON DELETE CASCADE,
    number         bigint      NOT NULL,
    state          text        NOT NULL,
    status         text        NOT NULL DEFAULT '',
    ip             text        NOT NULL DEFAULT '',
    dns            text        NOT NULL DEFAULT '',
    netbios        text        NOT NULL DEFAULT '',
    port           integer,
    service        text        NOT NULL DEFAULT '',
    qid            text        NOT NULL,
    title          text        NOT NULL DEFAULT '',
    modified_at    timestamptz,
    occurrence_ids bigint[]    NOT NULL DEFAULT '{}',
    applied_state  text        NOT NULL,
    seen_run_id    uuid        NOT NULL,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (task_id, number),
    CONSTRAINT remediation_tickets_state_check CHECK (state IN ('OPEN', 'RESOLVED', 'CLOSED', 'IGNORED'))
) WITH (fillfactor = 80);
-- Every run rewrites the tickets it read (seen_run_id): with room on each page and no index
-- on the columns that change, a ticket whose links stay is a HOT update that touches no index.
CREATE INDEX remediation_tickets_occurrences_idx ON remediation_tickets USING gin (occurrence_ids);

-- remediation_sync_state: the watermark of a task, moved only by a complete read.
CREATE TABLE remediation_sync_state (
    task_id    uuid        PRIMARY KEY REFERENCES integration_tasks (id) ON DELETE CASCADE,
    watermark  timestamptz NOT NULL,
    run_id     uuid        NOT NULL,
    updated_at timestamptz NOT NULL
);
