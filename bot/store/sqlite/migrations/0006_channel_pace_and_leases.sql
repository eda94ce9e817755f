-- Slack's pace per channel, shared by every process on the database: when the channel may next
-- receive a post (epoch seconds). One row per channel the bot ever posted in, a few dozen at most.
CREATE TABLE channel_pace (
   channel TEXT PRIMARY KEY,
   next_at REAL NOT NULL
) WITHOUT ROWID;
-- What one process at a time may do (Socket Mode): its holder's token and name, held until
-- expires_at unless renewed, so a crashed holder blocks the next one for one lease at most.
CREATE TABLE leases (
   name TEXT PRIMARY KEY,
   token TEXT NOT NULL,
   holder TEXT NOT NULL,
   since REAL NOT NULL,
   expires_at REAL NOT NULL
) WITHOUT ROWID;
