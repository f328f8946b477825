-- Tenants (ADR 0005): an enrollment is its tenant's. Rows written before
-- this migration belonged to `default`; no default stays behind.
ALTER TABLE roster.enrollments ADD COLUMN tenant_id text NOT NULL DEFAULT 'default';
ALTER TABLE roster.enrollments ALTER COLUMN tenant_id DROP DEFAULT;
