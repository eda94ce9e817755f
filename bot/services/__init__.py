"""Use cases. They take the store's unit of work and the adapters, never a listener or a worker:
failures from Slack and Stripe propagate as `ExternalFailure`; the worker decides what to do."""
