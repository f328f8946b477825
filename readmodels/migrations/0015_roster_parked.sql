-- Events parked behind one the handler refused (see docs/reliability.md):
-- the failing event and every later event of its aggregate wait here, in
-- sequence order, until `lms-projections redrive-dlq` applies them.
CREATE TABLE roster.parked (
    projection     text        NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    sequence       bigint      NOT NULL CHECK (sequence > 0),
    topic          text        NOT NULL,
    partition      integer     NOT NULL CHECK (partition >= 0),
    kafka_offset   bigint      NOT NULL CHECK (kafka_offset >= 0),
    -- The record's value as read (Confluent-framed Avro): decoded again by the redrive.
    payload        bytea       NOT NULL,
    reason         text        NOT NULL,
    parked_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, aggregate_type, aggregate_id, sequence)
);
