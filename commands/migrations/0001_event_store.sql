-- The event store, in the layout postgres-es reads (events, snapshots), plus
-- what the platform needs: a unique event id, a global position for batch
-- replays, and the time the row was recorded.
CREATE TABLE events
(
    aggregate_type text                         NOT NULL,
    aggregate_id   text                         NOT NULL,
    sequence       bigint CHECK (sequence >= 0) NOT NULL,
    event_type     text                         NOT NULL,
    event_version  text                         NOT NULL,
    payload        json                         NOT NULL,
    metadata       json                         NOT NULL,
    event_id       uuid                         NOT NULL UNIQUE,
    position       bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    recorded_at    timestamptz                  NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE TABLE snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          json                                 NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);

-- One row per completed command: the idempotency record. Written in the same
-- transaction as the command's events, so "events written" and "command
-- recorded" can never disagree.
-- Keys are scoped per tenant: two tenants may pick the same command id.
CREATE TABLE command_log
(
    tenant_id      text        NOT NULL,
    command_id     text        NOT NULL,
    command_type   text        NOT NULL,
    request_hash   text        NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    sequence       bigint      NOT NULL,
    created_id     text        NOT NULL DEFAULT '',
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, command_id)
);
