-- What each installed workspace brought: its Slack installation (bot token), its Stripe connection
-- (restricted key, our webhook endpoint and its signing secret), and the one-shot tokens of the
-- install and connect flows. Tokens, keys and secrets are stored encrypted (bot/secrets.py), bound
-- to their tenant and kind: a value copied to another row does not decrypt.
CREATE TABLE installations (
   tenant_id TEXT PRIMARY KEY REFERENCES tenants (id),
   team_id TEXT NOT NULL,
   enterprise_id TEXT,
   app_id TEXT,
   bot_user_id TEXT NOT NULL,
   bot_id TEXT,
   bot_scopes TEXT NOT NULL DEFAULT '',
   installer_user_id TEXT NOT NULL,
   bot_token TEXT NOT NULL,
   installed_at REAL NOT NULL
);
CREATE TABLE stripe_connections (
   tenant_id TEXT PRIMARY KEY REFERENCES tenants (id),
   account_id TEXT NOT NULL,
   account_name TEXT NOT NULL DEFAULT '',
   livemode INTEGER NOT NULL,
   api_key TEXT NOT NULL,
   webhook_endpoint_id TEXT NOT NULL,
   webhook_secret TEXT NOT NULL,
   connected_by TEXT NOT NULL,
   connected_at REAL NOT NULL,
   paused_at REAL
);
CREATE TABLE oauth_states (
   state TEXT PRIMARY KEY,
   expires_at REAL NOT NULL
);
CREATE TABLE one_time_links (
   token_hash TEXT PRIMARY KEY,
   tenant_id TEXT NOT NULL REFERENCES tenants (id),
   user_id TEXT NOT NULL,
   purpose TEXT NOT NULL,
   expires_at REAL NOT NULL,
   used_at REAL
);
