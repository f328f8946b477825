-- The identity service's own tables, beside the event store (same database:
-- the User events go through its outbox). Numbered from 1001 so they never
-- collide with the event store's migrations.

-- One row per account: the email claim (unique per tenant, taken before
-- the UserRegistered event is appended) and the password hash. Never
-- published, never an event: a hash must be replaceable and erasable.
CREATE TABLE identity_credentials (
    user_id              uuid        PRIMARY KEY,
    tenant_id            text        NOT NULL,
    email                text        NOT NULL,
    password_hash        text        NOT NULL,
    -- The command that set the hash: a retried ChangePassword resumes
    -- instead of failing on the password it already replaced.
    password_command_id  text        NOT NULL,
    claimed_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, email)
);

-- Refresh tokens, stored as SHA-256 of the token. A family is one sign-in;
-- each refresh uses its token and adds the next one to the family.
CREATE TABLE identity_refresh_tokens (
    token_hash   bytea       PRIMARY KEY,
    family_id    uuid        NOT NULL,
    user_id      uuid        NOT NULL,
    tenant_id    text        NOT NULL,
    issued_at    timestamptz NOT NULL DEFAULT now(),
    -- The family's end: a refresh never extends a sign-in past it.
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX identity_refresh_tokens_family ON identity_refresh_tokens (family_id);
CREATE INDEX identity_refresh_tokens_user ON identity_refresh_tokens (user_id);
