"""The image's HEALTHCHECK: exit 0 when the bot's `/healthz` answers 200, 1 otherwise.

Standard library only (slim images have no curl), and it imports nothing of the bot's, so a probe
every few seconds costs a few milliseconds of start-up. `/healthz` answers 503 while the database
is unreachable or a worker is down; that, a refused connection or a timeout all count as unhealthy.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

# Shorter than the Dockerfile's `HEALTHCHECK --timeout`, so a hung server makes this exit 1 with a
# reason rather than being killed without one.
TIMEOUT_SECONDS = 2.0
WILDCARD_HOSTS = {"", "0.0.0.0", "::"}


def healthz_url() -> str:
    """Where the bot listens, from the same HOST and PORT settings `invoicebot serve` reads."""
    host = os.environ.get("HOST", "0.0.0.0").strip()
    port = os.environ.get("PORT", "3000").strip()
    if host in WILDCARD_HOSTS:
        host = "127.0.0.1"
    elif ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"http://{host}:{port}/healthz"


def main() -> int:
    url = healthz_url()
    # No proxy, whatever HTTP_PROXY says: the bot is in this container, never behind a proxy.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as error:  # 503: the body says which part is unhealthy
        print(f"{url}: {error.code} {error.read(2000).decode('utf-8', 'replace')}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:  # refused, timed out, reset; or a malformed HOST/PORT
        print(f"{url}: {error}", file=sys.stderr)
        return 1
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
