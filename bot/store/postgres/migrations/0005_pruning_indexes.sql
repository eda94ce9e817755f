-- Pruning (bot/store/retention.py) finds what it may delete through these, a few thousand rows
-- at a time. Each is partial: a row joins its index only once it may be pruned (a job finished,
-- an event decided, a message posted), so inserts on the hot paths (webhook, queueing) pay nothing.
CREATE INDEX idx_jobs_finished_updated_at ON jobs (status, updated_at) WHERE status IN ('done', 'failed');
CREATE INDEX idx_stripe_events_processed_at ON stripe_events (processed_at) WHERE processed_at IS NOT NULL;
CREATE INDEX idx_deliveries_sent_started_at ON deliveries (started_at) WHERE status = 'sent';
