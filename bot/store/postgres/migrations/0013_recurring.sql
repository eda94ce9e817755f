-- Recurring invoices (bot/services/recurring.py). The catalog cache learns whether a price repeats:
-- `prices.recurring` is Stripe's interval and count ("month:1", "month:3", "year:1"), '' for a one-off
-- price, NULL until the next catalog refresh says. `subscriptions` keeps each subscription made in Slack
-- with its rep, channel and tenant, so every invoice it generates gets its own message in that channel.
ALTER TABLE prices ADD COLUMN recurring text;
CREATE TABLE subscriptions (
   tenant_id text NOT NULL,
   stripe_id text NOT NULL,
   view_id text NOT NULL,
   rep_user_id text NOT NULL,
   channel_id text NOT NULL,
   team_id text NOT NULL,
   customer_id text NOT NULL,
   customer_label text NOT NULL,
   repeat_every text NOT NULL,
   currency text NOT NULL,
   amount bigint NOT NULL,
   summary text NOT NULL,
   status text NOT NULL,
   cancel_at_period_end boolean NOT NULL DEFAULT false,
   current_period_end bigint,
   canceled_by text,
   created_at double precision NOT NULL,
   updated_at double precision NOT NULL,
   PRIMARY KEY (tenant_id, stripe_id)
);
CREATE UNIQUE INDEX subscriptions_by_view ON subscriptions (tenant_id, view_id);
CREATE INDEX subscriptions_by_rep ON subscriptions (tenant_id, rep_user_id, created_at);
