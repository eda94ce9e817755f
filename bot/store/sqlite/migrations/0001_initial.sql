-- The schema as invoicebot first shipped it (sqlite-utils' m001_initial).
CREATE TABLE customers (
   stripe_id TEXT PRIMARY KEY,
   email TEXT,
   name TEXT,
   created_at REAL,
   updated_at REAL
);
CREATE INDEX idx_customers_email ON customers (email);
CREATE TABLE prices (
   stripe_id TEXT PRIMARY KEY,
   product_id TEXT,
   product_name TEXT,
   unit_amount INTEGER,
   currency TEXT,
   active INTEGER,
   updated_at REAL
);
CREATE TABLE invoices (
   stripe_id TEXT PRIMARY KEY,
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
   updated_at REAL
);
CREATE INDEX idx_invoices_number ON invoices (number);
CREATE INDEX idx_invoices_status_created_at ON invoices (status, created_at);
CREATE INDEX idx_invoices_rep_user_id_created_at ON invoices (rep_user_id, created_at);
CREATE UNIQUE INDEX idx_invoices_view_id ON invoices (view_id);
CREATE TABLE stripe_events (
   id TEXT PRIMARY KEY,
   type TEXT,
   created INTEGER,
   object_id TEXT,
   payload TEXT,
   received_at REAL,
   processed_at REAL
);
CREATE TABLE jobs (
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
   updated_at REAL
);
CREATE UNIQUE INDEX idx_jobs_key ON jobs (key);
CREATE INDEX idx_jobs_status_run_after ON jobs (status, run_after);
CREATE TABLE audit (
   id INTEGER PRIMARY KEY,
   at REAL,
   actor TEXT,
   action TEXT,
   invoice_id TEXT,
   stripe_ids TEXT,
   detail TEXT
);
CREATE INDEX idx_audit_invoice_id_at ON audit (invoice_id, at);
CREATE TABLE routes (
   kind TEXT,
   key TEXT,
   channel_id TEXT,
   set_by TEXT,
   at REAL,
   PRIMARY KEY (kind, key)
);
