"""Serve the fake for demos: ``python -m tests.fakes.stripe_fake --port 12111 --api-key sk_test_x``."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from .fake import FakeStripe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.stripe_fake", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--api-key", default="sk_test_fake")
    parser.add_argument("--webhook-url", help="deliver every event to this URL")
    parser.add_argument("--webhook-secret", help="signing secret for --webhook-url (whsec_...)")
    parser.add_argument("--seed", type=int, help="make ids and invoice numbers reproducible")
    args = parser.parse_args(argv)
    if bool(args.webhook_url) != bool(args.webhook_secret):
        parser.error("--webhook-url and --webhook-secret go together")

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    fake = FakeStripe(api_key=args.api_key, host=args.host, port=args.port, seed=args.seed).start()
    if args.webhook_url:
        fake.add_webhook_endpoint(args.webhook_url, args.webhook_secret)
    print(fake.url, flush=True)
    try:
        stop.wait()
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
