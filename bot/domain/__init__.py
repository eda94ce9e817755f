"""Pure rules and records: no I/O, no Slack, no Stripe client, no SQL."""
