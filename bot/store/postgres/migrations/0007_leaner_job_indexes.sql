-- Every change of a job's status rewrites each index that holds the status: a claim and a
-- completion per job, tens of thousands a minute in a month-end backlog. Two indexes paid that
-- for every job and served little:
-- (status, run_after) was the old one-line queue's; claims walk (lane, status, run_after, id).
DROP INDEX idx_jobs_status_run_after;
-- (kind, channel, status) finds a channel's notices for a digest: only jobs with a channel
-- (notices, thread lines) need to be in it, not the Stripe events of a backlog.
DROP INDEX idx_jobs_kind_channel_status;
CREATE INDEX idx_jobs_kind_channel_status ON jobs (kind, channel, status) WHERE channel IS NOT NULL;
-- Jobs are inserted, updated twice (claimed, finished) and deleted when pruned; events are
-- inserted, then updated once when decided. At autovacuum's default (a vacuum once 20% of a
-- table is dead rows) a month-end backlog leaves these tables, and their indexes, bloated for
-- hours; vacuum them after 2% instead (and at least 1,000 rows), and analyze as often, so the
-- planner keeps seeing a queue of a few pending rows among many finished ones.
ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000,
                      autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000);
ALTER TABLE stripe_events SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000,
                               autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000);
ALTER TABLE deliveries SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000);
