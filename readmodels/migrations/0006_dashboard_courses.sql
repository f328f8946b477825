-- Course facts the dashboard copies into each enrollment (title, lesson
-- count) get a table of their own; they lived in a template row per course
-- with the nil student id, which this moves and removes.
CREATE TABLE dashboard.courses (
    course_id     uuid        PRIMARY KEY,
    course_title  text        NOT NULL DEFAULT '',
    lessons_total integer     NOT NULL DEFAULT 0 CHECK (lessons_total >= 0),
    updated_at    timestamptz NOT NULL
);
INSERT INTO dashboard.courses (course_id, course_title, lessons_total, updated_at)
SELECT course_id, course_title, lessons_total, updated_at
  FROM dashboard.student_courses
 WHERE student_id = '00000000-0000-0000-0000-000000000000'::uuid;
DELETE FROM dashboard.student_courses
 WHERE student_id = '00000000-0000-0000-0000-000000000000'::uuid;
