-- One row per Slack message the bot means to post once: written before the post, completed with
-- its ts after, so a restart can tell "maybe posted" (look in Slack) from "never tried".
CREATE TABLE deliveries (
   key TEXT PRIMARY KEY,
   channel TEXT,
   thread_ts TEXT,
   status TEXT,
   ts TEXT,
   started_at REAL
);
ALTER TABLE jobs ADD COLUMN digest_key TEXT;
CREATE INDEX idx_jobs_digest_key ON jobs (digest_key);
