-- Accounts as other services see them (projection `users`): who a user id
-- is, how to address them, what they opted out of. No credential ever.
CREATE SCHEMA IF NOT EXISTS users;

CREATE TABLE users.accounts (
    user_id        uuid        PRIMARY KEY,
    tenant_id      text        NOT NULL,
    email          text        NOT NULL,
    display_name   text        NOT NULL,
    locale         text        NOT NULL,
    time_zone      text        NOT NULL,
    roles          text[]      NOT NULL,
    opted_out      text[]      NOT NULL DEFAULT '{}',
    registered_at  timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX accounts_by_tenant_email ON users.accounts (tenant_id, email);

-- Exactly-once bookkeeping of the projections writing this schema.
CREATE TABLE users.applied (
    projection     text        NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    last_sequence  bigint      NOT NULL CHECK (last_sequence >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, aggregate_type, aggregate_id)
);
-- Read-your-writes looks an aggregate up by id, whatever its type.
CREATE INDEX applied_by_aggregate_id ON users.applied (projection, aggregate_id);

CREATE TABLE users.checkpoints (
    projection  text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL CHECK (partition >= 0),
    next_offset bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, topic, partition)
);
