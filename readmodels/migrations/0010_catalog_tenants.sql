-- Tenants (ADR 0005): a course is its tenant's, and every listing leads
-- with the tenant. Modules and lessons are reached through their course.
-- Rows written before this migration belonged to the one tenant there was,
-- `default`; the default is dropped so that no write can forget the column.
ALTER TABLE catalog.courses ADD COLUMN tenant_id text NOT NULL DEFAULT 'default';
ALTER TABLE catalog.courses ALTER COLUMN tenant_id DROP DEFAULT;
DROP INDEX catalog.courses_listing;
DROP INDEX catalog.courses_by_status;
CREATE INDEX courses_listing ON catalog.courses (tenant_id, created_at DESC, course_id DESC);
CREATE INDEX courses_by_status ON catalog.courses (tenant_id, status, created_at DESC, course_id DESC);
