-- The transactional outbox: one row per event, written in the same
-- transaction as the event (ADR 0001), published to Kafka by lms-relay and
-- marked only after the broker acknowledged it. The event itself is read from
-- `events` by position; the row only tracks delivery.
CREATE TABLE outbox
(
    position     bigint PRIMARY KEY REFERENCES events (position),
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text
);

CREATE INDEX outbox_unpublished ON outbox (position) WHERE published_at IS NULL;
