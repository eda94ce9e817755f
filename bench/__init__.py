"""invoicebot's benchmarks: `make bench` (`python -m bench [NAME ...]`), figures in docs/benchmarks.md.

One module per benchmark (ack, ingest, burst, stripe_calls, memory), each returning a
`report.Section`; the load comes from separate processes (sender.py) and the references run on
the bot's own stack (refservers.py, naive_bolt.py).
"""
