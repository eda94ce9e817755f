-- The schema as invoicebot first shipped it, in PostgreSQL types: epoch seconds as double
-- precision, amounts and Stripe's integer timestamps as bigint, JSON kept as text (the shared SQL
-- reads and writes JSON strings). Later files add columns in the same steps as SQLite's.
CREATE TABLE customers (
   stripe_id text PRIMARY KEY,
   email text,
   name text,
   created_at double precision,
   updated_at double precision
);
CREATE INDEX idx_customers_email ON customers (email);
CREATE TABLE prices (
   stripe_id text PRIMARY KEY,
   product_id text,
   product_name text,
   unit_amount bigint,
   currency text,
   active boolean,
   updated_at double precision
);
CREATE TABLE invoices (
   stripe_id text PRIMARY KEY,
   number text,
   status text NOT NULL,
   currency text NOT NULL,
   total bigint DEFAULT 0,
   amount_paid bigint DEFAULT 0,
   amount_remaining bigint DEFAULT 0,
   due_date bigint,
   hosted_url text,
   customer_id text,
   customer_name text,
   customer_email text,
   lines_json text,
   channel_id text,
   message_ts text,
   rep_user_id text,
   team_id text,
   view_id text,
   state_at bigint DEFAULT 0,
   last_reminded_at double precision,
   created_at double precision,
   updated_at double precision
);
CREATE INDEX idx_invoices_number ON invoices (number);
CREATE INDEX idx_invoices_status_created_at ON invoices (status, created_at);
CREATE INDEX idx_invoices_rep_user_id_created_at ON invoices (rep_user_id, created_at);
CREATE UNIQUE INDEX idx_invoices_view_id ON invoices (view_id);
CREATE TABLE stripe_events (
   id text PRIMARY KEY,
   type text,
   created bigint,
   object_id text,
   payload text,
   received_at double precision,
   processed_at double precision
);
CREATE TABLE jobs (
   id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
   kind text NOT NULL,
   key text NOT NULL,
   payload text,
   status text NOT NULL,
   attempts integer DEFAULT 0,
   run_after double precision DEFAULT 0.0,
   lease_until double precision DEFAULT 0.0,
   last_error text,
   created_at double precision,
   updated_at double precision
);
CREATE UNIQUE INDEX idx_jobs_key ON jobs (key);
CREATE INDEX idx_jobs_status_run_after ON jobs (status, run_after);
CREATE TABLE audit (
   id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
   at double precision,
   actor text,
   action text,
   invoice_id text,
   stripe_ids text,
   detail text
);
CREATE INDEX idx_audit_invoice_id_at ON audit (invoice_id, at);
CREATE TABLE routes (
   kind text,
   key text,
   channel_id text,
   set_by text,
   at double precision,
   PRIMARY KEY (kind, key)
);
