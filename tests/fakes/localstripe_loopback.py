"""Run localstripe (PyPI) bound to loopback only; its own launcher listens on every interface."""

from __future__ import annotations

import argparse

from aiohttp import web
from localstripe.server import app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # Not loading /tmp/localstripe.pickle: every run starts from an empty store.
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
