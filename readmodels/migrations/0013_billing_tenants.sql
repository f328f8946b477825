-- Tenants (ADR 0005): subscriptions and invoices are their tenant's. Rows
-- written before this migration belonged to `default`; no default stays.
ALTER TABLE billing.subscriptions ADD COLUMN tenant_id text NOT NULL DEFAULT 'default';
ALTER TABLE billing.subscriptions ALTER COLUMN tenant_id DROP DEFAULT;
ALTER TABLE billing.invoices ADD COLUMN tenant_id text NOT NULL DEFAULT 'default';
ALTER TABLE billing.invoices ALTER COLUMN tenant_id DROP DEFAULT;
