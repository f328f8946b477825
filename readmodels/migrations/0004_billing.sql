-- Subscriptions and invoices (projection `billing`).
CREATE SCHEMA IF NOT EXISTS billing;

CREATE TABLE billing.subscriptions (
    subscription_id    uuid        PRIMARY KEY,
    student_id         uuid        NOT NULL UNIQUE,
    plan               text        NOT NULL CHECK (plan IN ('basic', 'pro')),
    status             text        NOT NULL
                       CHECK (status IN ('trialing', 'active', 'past_due', 'cancelled')),
    trial_ends_at      timestamptz,
    current_period_end timestamptz,
    updated_at         timestamptz NOT NULL
);

CREATE TABLE billing.invoices (
    invoice_id        uuid        PRIMARY KEY,
    subscription_id   uuid        NOT NULL,
    student_id        uuid        NOT NULL,
    amount_cents      bigint      NOT NULL CHECK (amount_cents >= 0),
    currency          text        NOT NULL,
    period_start      timestamptz NOT NULL,
    period_end        timestamptz NOT NULL,
    payment_reference text        NOT NULL DEFAULT '',
    issued_at         timestamptz NOT NULL
);
-- ListInvoices: a student's invoices, newest first, keyset pagination.
CREATE INDEX invoices_by_student ON billing.invoices (student_id, issued_at DESC, invoice_id DESC);

-- Exactly-once bookkeeping of the projections writing this schema.
CREATE TABLE billing.applied (
    projection     text        NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    last_sequence  bigint      NOT NULL CHECK (last_sequence >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, aggregate_type, aggregate_id)
);
-- Read-your-writes looks an aggregate up by id, whatever its type.
CREATE INDEX applied_by_aggregate_id ON billing.applied (projection, aggregate_id);

CREATE TABLE billing.checkpoints (
    projection  text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL CHECK (partition >= 0),
    next_offset bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, topic, partition)
);
