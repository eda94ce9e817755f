-- Recurring invoices (bot/services/recurring.py). The catalog cache learns whether a price repeats:
-- `prices.recurring` is Stripe's interval and count ("month:1", "month:3", "year:1"), '' for a one-off
-- price, NULL until the next catalog refresh says. `subscriptions` keeps each subscription made in Slack
-- with its rep, channel and tenant, so every invoice it generates gets its own message in that channel.
ALTER TABLE prices ADD COLUMN recurring TEXT;
CREATE TABLE subscriptions (
   tenant_id TEXT NOT NULL,
   stripe_id TEXT NOT NULL,
   view_id TEXT NOT NULL,
   rep_user_id TEXT NOT NULL,
   channel_id TEXT NOT NULL,
   team_id TEXT NOT NULL,
   customer_id TEXT NOT NULL,
   customer_label TEXT NOT NULL,
   repeat_every TEXT NOT NULL,
   currency TEXT NOT NULL,
   amount INTEGER NOT NULL,
   summary TEXT NOT NULL,
   status TEXT NOT NULL,
   cancel_at_period_end INTEGER NOT NULL DEFAULT 0,
   current_period_end INTEGER,
   canceled_by TEXT,
   created_at REAL NOT NULL,
   updated_at REAL NOT NULL,
   PRIMARY KEY (tenant_id, stripe_id)
);
CREATE UNIQUE INDEX subscriptions_by_view ON subscriptions (tenant_id, view_id);
CREATE INDEX subscriptions_by_rep ON subscriptions (tenant_id, rep_user_id, created_at);
