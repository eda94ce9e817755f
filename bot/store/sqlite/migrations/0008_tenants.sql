-- Every installed workspace is a tenant; every business row belongs to one. What a single-workspace
-- deployment stored before moves into tenant `default`, with nothing lost. Keys become composite,
-- because two workspaces may connect the same Stripe account (the same invoice and event ids) or
-- share a Slack Connect channel (the same channel id). SQLite cannot change a primary key in place:
-- each table is copied into its new shape. Pruning runs per tenant: its indexes lead with the tenant.
CREATE TABLE tenants (
   id TEXT PRIMARY KEY,
   public_id TEXT NOT NULL UNIQUE,
   team_id TEXT UNIQUE,
   enterprise_id TEXT,
   team_name TEXT NOT NULL DEFAULT '',
   status TEXT NOT NULL DEFAULT 'active',
   settings TEXT NOT NULL DEFAULT '{}',
   created_at REAL NOT NULL,
   updated_at REAL NOT NULL
);
INSERT INTO tenants (id, public_id, created_at, updated_at) VALUES ('default', 'default', 0, 0);

CREATE TABLE customers_new (
   stripe_id TEXT NOT NULL,
   email TEXT,
   name TEXT,
   created_at REAL,
   updated_at REAL,
   tenant_id TEXT NOT NULL,
   PRIMARY KEY (tenant_id, stripe_id)
);
INSERT INTO customers_new SELECT stripe_id, email, name, created_at, updated_at, 'default' FROM customers;
DROP TABLE customers;
ALTER TABLE customers_new RENAME TO customers;
CREATE INDEX idx_customers_email ON customers (tenant_id, email);

CREATE TABLE prices_new (
   stripe_id TEXT NOT NULL,
   product_id TEXT,
   product_name TEXT,
   unit_amount INTEGER,
   currency TEXT,
   active INTEGER,
   updated_at REAL,
   tenant_id TEXT NOT NULL,
   PRIMARY KEY (tenant_id, stripe_id)
);
INSERT INTO prices_new SELECT stripe_id, product_id, product_name, unit_amount, currency, active, updated_at,
   'default' FROM prices;
DROP TABLE prices;
ALTER TABLE prices_new RENAME TO prices;

CREATE TABLE invoices_new (
   stripe_id TEXT NOT NULL,
   number TEXT,
   status TEXT NOT NULL,
   currency TEXT NOT NULL,
   total INTEGER DEFAULT 0,
   amount_paid INTEGER DEFAULT 0,
   amount_remaining INTEGER DEFAULT 0,
   due_date INTEGER,
   hosted_url TEXT,
   customer_id TEXT,
   customer_name TEXT,
   customer_email TEXT,
   lines_json TEXT,
   channel_id TEXT,
   message_ts TEXT,
   rep_user_id TEXT,
   team_id TEXT,
   view_id TEXT,
   state_at INTEGER DEFAULT 0,
   last_reminded_at REAL,
   created_at REAL,
   updated_at REAL,
   overdue_notified_at REAL,
   tenant_id TEXT NOT NULL,
   PRIMARY KEY (tenant_id, stripe_id)
);
INSERT INTO invoices_new SELECT stripe_id, number, status, currency, total, amount_paid, amount_remaining,
   due_date, hosted_url, customer_id, customer_name, customer_email, lines_json, channel_id, message_ts, rep_user_id,
   team_id, view_id, state_at, last_reminded_at, created_at, updated_at, overdue_notified_at, 'default' FROM invoices;
DROP TABLE invoices;
ALTER TABLE invoices_new RENAME TO invoices;
CREATE INDEX idx_invoices_number ON invoices (tenant_id, number);
CREATE INDEX idx_invoices_status_created_at ON invoices (tenant_id, status, created_at);
CREATE INDEX idx_invoices_rep_user_id_created_at ON invoices (tenant_id, rep_user_id, created_at);
CREATE UNIQUE INDEX idx_invoices_view_id ON invoices (tenant_id, view_id);

CREATE TABLE stripe_events_new (
   id TEXT NOT NULL,
   type TEXT,
   created INTEGER,
   object_id TEXT,
   payload TEXT,
   received_at REAL,
   processed_at REAL,
   outcome TEXT,
   tenant_id TEXT NOT NULL,
   PRIMARY KEY (tenant_id, id)
);
INSERT INTO stripe_events_new SELECT id, type, created, object_id, payload, received_at, processed_at,
   outcome, 'default' FROM stripe_events;
DROP TABLE stripe_events;
ALTER TABLE stripe_events_new RENAME TO stripe_events;
CREATE INDEX idx_stripe_events_processed_at ON stripe_events (tenant_id, processed_at) WHERE processed_at IS NOT NULL;
CREATE INDEX idx_stripe_events_object_id ON stripe_events (tenant_id, object_id);

CREATE TABLE jobs_new (
   id INTEGER PRIMARY KEY,
   kind TEXT NOT NULL,
   key TEXT NOT NULL,
   payload TEXT,
   status TEXT NOT NULL,
   attempts INTEGER DEFAULT 0,
   run_after REAL DEFAULT 0.0,
   lease_until REAL DEFAULT 0.0,
   last_error TEXT,
   created_at REAL,
   updated_at REAL,
   channel TEXT,
   digest_key TEXT,
   lane TEXT NOT NULL DEFAULT 'bulk',
   lease_token TEXT,
   lease_owner TEXT,
   tenant_id TEXT NOT NULL
);
INSERT INTO jobs_new SELECT id, kind, key, payload, status, attempts, run_after, lease_until, last_error,
   created_at, updated_at, channel, digest_key, lane, lease_token, lease_owner, 'default' FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE UNIQUE INDEX idx_jobs_key ON jobs (tenant_id, key);
CREATE INDEX idx_jobs_digest_key ON jobs (digest_key);
CREATE INDEX idx_jobs_lane_status_run_after ON jobs (lane, status, run_after, id);
CREATE INDEX idx_jobs_lease_token ON jobs (lease_token);
CREATE INDEX idx_jobs_finished_updated_at ON jobs (tenant_id, status, updated_at) WHERE status IN ('done', 'failed');
CREATE INDEX idx_jobs_kind_channel_status ON jobs (kind, channel, status) WHERE channel IS NOT NULL;

CREATE TABLE audit_new (
   id INTEGER PRIMARY KEY,
   at REAL,
   actor TEXT,
   action TEXT,
   invoice_id TEXT,
   stripe_ids TEXT,
   detail TEXT,
   tenant_id TEXT NOT NULL
);
INSERT INTO audit_new SELECT id, at, actor, action, invoice_id, stripe_ids, detail, 'default' FROM audit;
DROP TABLE audit;
ALTER TABLE audit_new RENAME TO audit;
CREATE INDEX idx_audit_invoice_id_at ON audit (tenant_id, invoice_id, at);

CREATE TABLE routes_new (
   kind TEXT,
   key TEXT,
   channel_id TEXT,
   set_by TEXT,
   at REAL,
   tenant_id TEXT NOT NULL,
   PRIMARY KEY (tenant_id, kind, key)
);
INSERT INTO routes_new SELECT kind, key, channel_id, set_by, at, 'default' FROM routes;
DROP TABLE routes;
ALTER TABLE routes_new RENAME TO routes;

CREATE TABLE deliveries_new (
   key TEXT NOT NULL,
   channel TEXT,
   thread_ts TEXT,
   status TEXT,
   ts TEXT,
   started_at REAL,
   tenant_id TEXT NOT NULL,
   PRIMARY KEY (tenant_id, key)
);
INSERT INTO deliveries_new SELECT key, channel, thread_ts, status, ts, started_at, 'default' FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX idx_deliveries_sent_started_at ON deliveries (tenant_id, started_at) WHERE status = 'sent';

CREATE TABLE channel_pace_new (
   channel TEXT NOT NULL,
   next_at REAL NOT NULL,
   tenant_id TEXT NOT NULL,
   PRIMARY KEY (tenant_id, channel)
) WITHOUT ROWID;
INSERT INTO channel_pace_new SELECT channel, next_at, 'default' FROM channel_pace;
DROP TABLE channel_pace;
ALTER TABLE channel_pace_new RENAME TO channel_pace;
