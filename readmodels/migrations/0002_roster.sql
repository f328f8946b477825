-- Course rosters (projection `roster`).
CREATE SCHEMA IF NOT EXISTS roster;

CREATE TABLE roster.enrollments (
    enrollment_id     uuid        PRIMARY KEY,
    course_id         uuid        NOT NULL,
    student_id        uuid        NOT NULL,
    status            text        NOT NULL DEFAULT 'active'
                      CHECK (status IN ('active', 'completed', 'withdrawn')),
    lessons_completed integer     NOT NULL DEFAULT 0 CHECK (lessons_completed >= 0),
    enrolled_at       timestamptz NOT NULL,
    completed_at      timestamptz,
    withdrawn_at      timestamptz,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX enrollments_by_course ON roster.enrollments (course_id, enrolled_at, enrollment_id);
CREATE INDEX enrollments_by_student ON roster.enrollments (student_id);

-- Exactly-once bookkeeping of the projections writing this schema.
CREATE TABLE roster.applied (
    projection     text        NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    last_sequence  bigint      NOT NULL CHECK (last_sequence >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, aggregate_type, aggregate_id)
);
-- Read-your-writes looks an aggregate up by id, whatever its type.
CREATE INDEX applied_by_aggregate_id ON roster.applied (projection, aggregate_id);

CREATE TABLE roster.checkpoints (
    projection  text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL CHECK (partition >= 0),
    next_offset bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, topic, partition)
);
