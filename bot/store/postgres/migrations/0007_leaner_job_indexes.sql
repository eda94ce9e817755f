-- Every change of a job's status rewrites each index that holds the status: a claim and a
-- completion per job, tens of thousands a minute in a month-end backlog. Two indexes paid that
-- for every job and served little:
-- (status, run_after) was the old one-line queue's; claims walk (lane, status, run_after, id).
DROP INDEX idx_jobs_status_run_after;
-- (kind, channel, status) finds a channel's notices for a digest: only jobs with a channel
-- (notices, thread lines) need to be in it, not the Stripe events of a backlog.
DROP INDEX idx_jobs_kind_channel_status;
CREATE INDEX idx_jobs_kind_channel_status ON jobs (kind, channel, status) WHERE channel IS NOT NULL;
