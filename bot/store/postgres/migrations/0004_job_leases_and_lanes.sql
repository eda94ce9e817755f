-- Leases with an owner token (only the holder finishes a job) and lanes (each with its own workers).
-- The UPDATEs mirror SQLite's 0004 (a PostgreSQL database has no jobs from before lanes; they
-- change nothing on a fresh schema and keep the two histories step for step).
ALTER TABLE jobs ADD COLUMN lane text NOT NULL DEFAULT 'bulk';
ALTER TABLE jobs ADD COLUMN lease_token text;
ALTER TABLE jobs ADD COLUMN lease_owner text;
UPDATE jobs SET lane = CASE kind
    WHEN 'create_invoice' THEN 'interactive'
    WHEN 'invoice_action' THEN 'interactive'
    WHEN 'catalog_add' THEN 'interactive'
    WHEN 'stripe_event' THEN 'events'
    WHEN 'refresh_message' THEN 'own'
    WHEN 'thread_reply' THEN 'own'
    WHEN 'refresh_catalog' THEN 'periodic'
    WHEN 'overdue_sweep' THEN 'periodic'
    ELSE 'bulk' END;
UPDATE jobs SET run_after = created_at WHERE run_after = 0 AND created_at IS NOT NULL;
CREATE INDEX idx_jobs_lane_status_run_after ON jobs (lane, status, run_after, id);
CREATE INDEX idx_jobs_lease_token ON jobs (lease_token);
