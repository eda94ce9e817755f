-- Every installed workspace is a tenant; every business row belongs to one. What a single-workspace
-- deployment stored before moves into tenant `default`, with nothing lost. Keys become composite,
-- because two workspaces may connect the same Stripe account (the same invoice and event ids) or
-- share a Slack Connect channel (the same channel id). The column is added with a default to fill
-- the existing rows, and the default dropped again: from now on every insert names its tenant.
CREATE TABLE tenants (
   id text PRIMARY KEY,
   public_id text NOT NULL UNIQUE,
   team_id text UNIQUE,
   enterprise_id text,
   team_name text NOT NULL DEFAULT '',
   status text NOT NULL DEFAULT 'active',
   settings text NOT NULL DEFAULT '{}',
   created_at double precision NOT NULL,
   updated_at double precision NOT NULL
);
INSERT INTO tenants (id, public_id, created_at, updated_at) VALUES ('default', 'default', 0, 0);

ALTER TABLE customers ADD COLUMN tenant_id text NOT NULL DEFAULT 'default';
ALTER TABLE customers ALTER COLUMN tenant_id DROP DEFAULT;
ALTER TABLE customers DROP CONSTRAINT customers_pkey;
ALTER TABLE customers ADD PRIMARY KEY (tenant_id, stripe_id);
DROP INDEX idx_customers_email;
CREATE INDEX idx_customers_email ON customers (tenant_id, email);

ALTER TABLE prices ADD COLUMN tenant_id text NOT NULL DEFAULT 'default';
ALTER TABLE prices ALTER COLUMN tenant_id DROP DEFAULT;
ALTER TABLE prices DROP CONSTRAINT prices_pkey;
ALTER TABLE prices ADD PRIMARY KEY (tenant_id, stripe_id);

ALTER TABLE invoices ADD COLUMN tenant_id text NOT NULL DEFAULT 'default';
ALTER TABLE invoices ALTER COLUMN tenant_id DROP DEFAULT;
ALTER TABLE invoices DROP CONSTRAINT invoices_pkey;
ALTER TABLE invoices ADD PRIMARY KEY (tenant_id, stripe_id);
DROP INDEX idx_invoices_number;
DROP INDEX idx_invoices_status_created_at;
DROP INDEX idx_invoices_rep_user_id_created_at;
DROP INDEX idx_invoices_view_id;
CREATE INDEX idx_invoices_number ON invoices (tenant_id, number);
CREATE INDEX idx_invoices_status_created_at ON invoices (tenant_id, status, created_at);
CREATE INDEX idx_invoices_rep_user_id_created_at ON invoices (tenant_id, rep_user_id, created_at);
CREATE UNIQUE INDEX idx_invoices_view_id ON invoices (tenant_id, view_id);

ALTER TABLE stripe_events ADD COLUMN tenant_id text NOT NULL DEFAULT 'default';
ALTER TABLE stripe_events ALTER COLUMN tenant_id DROP DEFAULT;
ALTER TABLE stripe_events DROP CONSTRAINT stripe_events_pkey;
ALTER TABLE stripe_events ADD PRIMARY KEY (tenant_id, id);
CREATE INDEX idx_stripe_events_object_id ON stripe_events (tenant_id, object_id);

ALTER TABLE jobs ADD COLUMN tenant_id text NOT NULL DEFAULT 'default';
ALTER TABLE jobs ALTER COLUMN tenant_id DROP DEFAULT;
DROP INDEX idx_jobs_key;
CREATE UNIQUE INDEX idx_jobs_key ON jobs (tenant_id, key);

ALTER TABLE audit ADD COLUMN tenant_id text NOT NULL DEFAULT 'default';
ALTER TABLE audit ALTER COLUMN tenant_id DROP DEFAULT;
DROP INDEX idx_audit_invoice_id_at;
CREATE INDEX idx_audit_invoice_id_at ON audit (tenant_id, invoice_id, at);

ALTER TABLE routes ADD COLUMN tenant_id text NOT NULL DEFAULT 'default';
ALTER TABLE routes ALTER COLUMN tenant_id DROP DEFAULT;
ALTER TABLE routes DROP CONSTRAINT routes_pkey;
ALTER TABLE routes ADD PRIMARY KEY (tenant_id, kind, key);

ALTER TABLE deliveries ADD COLUMN tenant_id text NOT NULL DEFAULT 'default';
ALTER TABLE deliveries ALTER COLUMN tenant_id DROP DEFAULT;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_pkey;
ALTER TABLE deliveries ADD PRIMARY KEY (tenant_id, key);

ALTER TABLE channel_pace ADD COLUMN tenant_id text NOT NULL DEFAULT 'default';
ALTER TABLE channel_pace ALTER COLUMN tenant_id DROP DEFAULT;
ALTER TABLE channel_pace DROP CONSTRAINT channel_pace_pkey;
ALTER TABLE channel_pace ADD PRIMARY KEY (tenant_id, channel);

-- Pruning runs per tenant: its indexes lead with the tenant.
DROP INDEX idx_jobs_finished_updated_at;
CREATE INDEX idx_jobs_finished_updated_at ON jobs (tenant_id, status, updated_at) WHERE status IN ('done', 'failed');
DROP INDEX idx_stripe_events_processed_at;
CREATE INDEX idx_stripe_events_processed_at ON stripe_events (tenant_id, processed_at) WHERE processed_at IS NOT NULL;
DROP INDEX idx_deliveries_sent_started_at;
CREATE INDEX idx_deliveries_sent_started_at ON deliveries (tenant_id, started_at) WHERE status = 'sent';
