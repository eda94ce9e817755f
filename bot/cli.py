"""`invoicebot serve` runs the bot; `invoicebot migrate` brings the database's schema up to date;
`invoicebot demo` shows the bot working against local fakes."""

from __future__ import annotations

import argparse
import signal
import sys

from bot.config import ConfigError, load_database_settings, load_settings
from bot.logs import configure as configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="invoicebot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve Slack and Stripe over HTTP (Socket Mode with SLACK_APP_TOKEN)")
    serve.add_argument("--env-file", default=".env", help="settings file read besides the environment")
    migrate = commands.add_parser("migrate", help="apply the database migrations not applied yet, then exit")
    migrate.add_argument("--env-file", default=".env", help="settings file read besides the environment")
    commands.add_parser("demo", help="run the whole flow against local fake Slack and Stripe, printing each step")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve_command(args.env_file)
    if args.command == "migrate":
        return migrate_command(args.env_file)
    from bot.demo import run_demo

    return run_demo()


def _report(error: ConfigError) -> int:
    print("invoicebot cannot start; fix these settings (environment variables or .env):", file=sys.stderr)
    for problem in error.problems:
        print(f"  - {problem}", file=sys.stderr)
    return 2


def serve_command(env_file: str) -> int:
    try:
        settings = load_settings(env_file)
    except ConfigError as error:
        return _report(error)
    configure_logging(settings.log_level)
    import uvicorn

    from bot.bootstrap import build
    from bot.http_server import server_config

    bot = build(settings)
    # uvicorn handles SIGTERM: it stops accepting, finishes requests, the lifespan drains the workers; then it
    # re-raises the signal to the handler found at start. A drained shutdown is a success, so that handler exits 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.Server(server_config(bot)).run()
    return 0


def migrate_command(env_file: str) -> int:
    """Only DATABASE_URL is needed: a schema can be migrated before the rest is configured."""
    try:
        settings = load_database_settings(env_file)
    except ConfigError as error:
        return _report(error)
    configure_logging("INFO")
    from bot.store import migrate_database

    applied = migrate_database(settings.database_url)
    print(f"{len(applied)} migration(s) applied" + (f": {', '.join(applied)}" if applied else "; up to date"))
    return 0


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    raise SystemExit(main())
