-- Course catalog read model (projection `course-catalog`).
CREATE SCHEMA IF NOT EXISTS catalog;

CREATE TABLE catalog.courses (
    course_id      uuid        PRIMARY KEY,
    title          text        NOT NULL,
    description    text        NOT NULL DEFAULT '',
    status         text        NOT NULL DEFAULT 'draft'
                   CHECK (status IN ('draft', 'published', 'archived')),
    capacity       integer     NOT NULL CHECK (capacity >= 0),
    seats_taken    integer     NOT NULL DEFAULT 0 CHECK (seats_taken >= 0),
    -- Access::{Free, Paid{price_cents}, Plan{plan}} flattened.
    access_kind    text        NOT NULL DEFAULT 'free'
                   CHECK (access_kind IN ('free', 'paid', 'plan')),
    price_cents    bigint      CHECK (price_cents >= 0),
    plan           text        CHECK (plan IN ('basic', 'pro')),
    language       text        NOT NULL,
    instructor_ids uuid[]      NOT NULL DEFAULT '{}',
    module_count   integer     NOT NULL DEFAULT 0 CHECK (module_count >= 0),
    lesson_count   integer     NOT NULL DEFAULT 0 CHECK (lesson_count >= 0),
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
-- ListCourses: newest first, keyset pagination on (created_at, course_id).
CREATE INDEX courses_listing ON catalog.courses (created_at DESC, course_id DESC);
CREATE INDEX courses_by_status ON catalog.courses (status, created_at DESC, course_id DESC);
CREATE INDEX courses_by_instructor ON catalog.courses USING gin (instructor_ids);

CREATE TABLE catalog.lessons (
    lesson_id    uuid    PRIMARY KEY,
    course_id    uuid    NOT NULL,
    module_id    uuid    NOT NULL,
    module_title text    NOT NULL,
    title        text    NOT NULL,
    position     integer NOT NULL CHECK (position >= 0)
);
CREATE INDEX lessons_by_course ON catalog.lessons (course_id, module_id, position);

-- Exactly-once bookkeeping of the projections writing this schema.
CREATE TABLE catalog.applied (
    projection     text        NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    last_sequence  bigint      NOT NULL CHECK (last_sequence >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, aggregate_type, aggregate_id)
);
-- Read-your-writes looks an aggregate up by id, whatever its type.
CREATE INDEX applied_by_aggregate_id ON catalog.applied (projection, aggregate_id);

CREATE TABLE catalog.checkpoints (
    projection  text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL CHECK (partition >= 0),
    next_offset bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, topic, partition)
);
