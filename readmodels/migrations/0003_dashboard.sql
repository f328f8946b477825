-- Students' dashboards (projection `student-dashboard`).
CREATE SCHEMA IF NOT EXISTS dashboard;

CREATE TABLE dashboard.student_courses (
    student_id        uuid        NOT NULL,
    course_id         uuid        NOT NULL,
    enrollment_id     uuid        NOT NULL,
    status            text        NOT NULL DEFAULT 'active'
                      CHECK (status IN ('active', 'completed', 'withdrawn')),
    lessons_completed integer     NOT NULL DEFAULT 0 CHECK (lessons_completed >= 0),
    lessons_total     integer     NOT NULL DEFAULT 0 CHECK (lessons_total >= 0),
    -- Filled by CourseCreated/DetailsUpdated, which may arrive after the enrollment.
    course_title      text        NOT NULL DEFAULT '',
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (student_id, course_id)
);
-- Course events fan out to every enrolled student.
CREATE INDEX student_courses_by_course ON dashboard.student_courses (course_id);

-- Exactly-once bookkeeping of the projections writing this schema.
CREATE TABLE dashboard.applied (
    projection     text        NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    last_sequence  bigint      NOT NULL CHECK (last_sequence >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, aggregate_type, aggregate_id)
);
-- Read-your-writes looks an aggregate up by id, whatever its type.
CREATE INDEX applied_by_aggregate_id ON dashboard.applied (projection, aggregate_id);

CREATE TABLE dashboard.checkpoints (
    projection  text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL CHECK (partition >= 0),
    next_offset bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, topic, partition)
);
