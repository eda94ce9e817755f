"""The bot's edges to the outside: Slack's Web API, Stripe's API, posting each message once."""
