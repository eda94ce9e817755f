-- Slack's pace per channel, shared by every replica on the database: when the channel may next
-- receive a post (epoch seconds by the server's clock). One row per channel the bot ever posted in.
CREATE TABLE channel_pace (
   channel text PRIMARY KEY,
   next_at double precision NOT NULL
);
-- What one process at a time may do (Socket Mode): its holder's token and name, held until
-- expires_at (the server's clock) unless renewed, so a crashed holder blocks the next one for one
-- lease at most.
CREATE TABLE leases (
   name text PRIMARY KEY,
   token text NOT NULL,
   holder text NOT NULL,
   since double precision NOT NULL,
   expires_at double precision NOT NULL
);
