-- What each installed workspace brought: its Slack installation (bot token), its Stripe connection
-- (restricted key, our webhook endpoint and its signing secret), and the one-shot tokens of the
-- install and connect flows. Tokens, keys and secrets are stored encrypted (bot/secrets.py), bound
-- to their tenant and kind: a value copied to another row does not decrypt.
CREATE TABLE installations (
   tenant_id text PRIMARY KEY REFERENCES tenants (id),
   team_id text NOT NULL,
   enterprise_id text,
   app_id text,
   bot_user_id text NOT NULL,
   bot_id text,
   bot_scopes text NOT NULL DEFAULT '',
   installer_user_id text NOT NULL,
   bot_token text NOT NULL,
   installed_at double precision NOT NULL
);
CREATE TABLE stripe_connections (
   tenant_id text PRIMARY KEY REFERENCES tenants (id),
   account_id text NOT NULL,
   account_name text NOT NULL DEFAULT '',
   livemode boolean NOT NULL,
   api_key text NOT NULL,
   webhook_endpoint_id text NOT NULL,
   webhook_secret text NOT NULL,
   connected_by text NOT NULL,
   connected_at double precision NOT NULL,
   paused_at double precision
);
CREATE TABLE oauth_states (
   state text PRIMARY KEY,
   expires_at double precision NOT NULL
);
CREATE TABLE one_time_links (
   token_hash text PRIMARY KEY,
   tenant_id text NOT NULL REFERENCES tenants (id),
   user_id text NOT NULL,
   purpose text NOT NULL,
   expires_at double precision NOT NULL,
   used_at double precision
);
