-- Enrollment events find their dashboard row by enrollment id (the live
-- worker's UPDATE … WHERE enrollment_id, a rebuild's batch load): without
-- this index each of them read the whole table.
CREATE INDEX student_courses_by_enrollment ON dashboard.student_courses (enrollment_id);
