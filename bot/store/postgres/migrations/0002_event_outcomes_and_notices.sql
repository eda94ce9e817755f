ALTER TABLE stripe_events ADD COLUMN outcome text;
ALTER TABLE invoices ADD COLUMN overdue_notified_at double precision;
ALTER TABLE jobs ADD COLUMN channel text;
CREATE INDEX idx_jobs_kind_channel_status ON jobs (kind, channel, status);
