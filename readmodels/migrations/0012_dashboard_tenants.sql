-- Tenants (ADR 0005): a student's row is its enrollment's tenant's. The
-- course facts are reached through those rows. Rows written before this
-- migration belonged to `default`; no default stays behind.
ALTER TABLE dashboard.student_courses ADD COLUMN tenant_id text NOT NULL DEFAULT 'default';
ALTER TABLE dashboard.student_courses ALTER COLUMN tenant_id DROP DEFAULT;
