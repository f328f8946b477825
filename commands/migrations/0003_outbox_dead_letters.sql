-- Outbox rows the relay gave up on: a failure that retrying cannot fix (a
-- record larger than Kafka accepts, a schema the registry refuses, an event
-- that cannot be encoded), after LMS_DEAD_LETTER_AFTER_ATTEMPTS attempts.
-- The row stays unpublished in `outbox`; while its aggregate has a row here,
-- the relay publishes none of that aggregate's events (they wait behind it,
-- in order) and every other aggregate's flow on. Deleting the row (after a
-- fix) lets the relay try again. See docs/runbooks/relay-dead-letters.md.
CREATE TABLE outbox_dead_letters
(
    position       bigint PRIMARY KEY REFERENCES outbox (position),
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    error          text        NOT NULL,
    attempts       integer     NOT NULL,
    dead_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX outbox_dead_letters_by_aggregate ON outbox_dead_letters (aggregate_type, aggregate_id);
