-- One row per Slack message the bot means to post once: written before the post, completed with
-- its ts after, so a restart can tell "maybe posted" (look in Slack) from "never tried".
CREATE TABLE deliveries (
   key text PRIMARY KEY,
   channel text,
   thread_ts text,
   status text,
   ts text,
   started_at double precision
);
ALTER TABLE jobs ADD COLUMN digest_key text;
CREATE INDEX idx_jobs_digest_key ON jobs (digest_key);
