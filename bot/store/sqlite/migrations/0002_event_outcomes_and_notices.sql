ALTER TABLE stripe_events ADD COLUMN outcome TEXT;
ALTER TABLE invoices ADD COLUMN overdue_notified_at REAL;
ALTER TABLE jobs ADD COLUMN channel TEXT;
CREATE INDEX idx_jobs_kind_channel_status ON jobs (kind, channel, status);
