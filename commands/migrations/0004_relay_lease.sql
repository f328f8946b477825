-- Which lms-relay leads (publishes the outbox), as a lease with an expiry
-- renewed by the leader (ADR 0001's single publisher). A leader that cannot
-- renew in time (its database connection cut, its process frozen) stops
-- publishing, and a standby takes the lease once it expired: takeover is
-- bounded by the lease time, whatever happened to the old leader's TCP.
CREATE TABLE relay_lease
(
    name       text PRIMARY KEY,
    holder     uuid        NOT NULL,
    -- Bumped at every takeover: a leader renews only its own epoch.
    epoch      bigint      NOT NULL,
    expires_at timestamptz NOT NULL
);
