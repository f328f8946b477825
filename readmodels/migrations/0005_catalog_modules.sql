-- Modules as ModuleAdded names them, so every lesson (a module's first one
-- included) carries its module's title. Rows written before this migration
-- get their modules on the next rebuild (`lms-replay rebuild course-catalog`).
CREATE TABLE catalog.modules (
    module_id  uuid        PRIMARY KEY,
    course_id  uuid        NOT NULL,
    title      text        NOT NULL,
    position   integer     NOT NULL CHECK (position >= 0),
    created_at timestamptz NOT NULL
);
CREATE INDEX modules_by_course ON catalog.modules (course_id, position);
