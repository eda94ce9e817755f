"""A real browser for the pages the bot serves (bot/pages.py): headless Chromium driven by Selenium,
and a helper that serves a Starlette app on loopback for it to visit.

Load the fixtures with `pytest_plugins = ["tests.browser"]` in a test module (importing them by name
makes ruff report every test that takes one as a redefinition, F811):

    def test_install(browser: webdriver.Chrome, serve: Serve) -> None:
        url = serve(Starlette(routes=[...]))
        browser.get(url + "/install")

`tests/setup_browser.sh` (run by `make test`) installs Debian's chromium and chromium-driver. Without
them these tests are skipped, unless REQUIRE_BROWSER=1 (CI must not go green by skipping), which
fails them instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from starlette.types import ASGIApp

REQUIRE_BROWSER = os.environ.get("REQUIRE_BROWSER") == "1"
DEBIAN_CHROMEDRIVER = Path("/usr/bin/chromedriver")

Serve = Callable[[ASGIApp], str]


def find_browser() -> tuple[str, str] | str:
    """(chromium, chromedriver) paths, or why they cannot be had."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    # An explicit driver path keeps selenium-manager from going to the network to download one.
    driver = str(DEBIAN_CHROMEDRIVER) if DEBIAN_CHROMEDRIVER.exists() else shutil.which("chromedriver")
    if chromium is None or driver is None:
        missing = " and ".join(name for name, path in (("chromium", chromium), ("chromedriver", driver)) if not path)
        return f"{missing} not installed (run `sh tests/setup_browser.sh`)"
    return chromium, driver


@pytest.fixture(scope="session")
def chromium_session() -> Iterator[webdriver.Chrome]:
    """One headless Chromium for the whole run: starting one takes half a second, a page a few ms."""
    found = find_browser()
    if isinstance(found, str):
        if REQUIRE_BROWSER:
            pytest.fail(f"REQUIRE_BROWSER=1 but {found}", pytrace=False)
        pytest.skip(found)
    chromium, driver = found
    options = Options()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1024,768",
                     "--disable-gpu", "--disable-extensions", "--no-first-run"):
        options.add_argument(argument)
    browser = webdriver.Chrome(options=options, service=Service(driver))
    browser.set_page_load_timeout(10)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def browser(chromium_session: webdriver.Chrome) -> webdriver.Chrome:
    """The session's browser with no cookies left by an earlier test: cookies ignore the port, so every
    test server on 127.0.0.1 would otherwise see the last one's (an OAuth state cookie, say)."""
    chromium_session.execute_cdp_cmd("Network.clearBrowserCookies", {})
    chromium_session.get("about:blank")
    return chromium_session


@contextlib.contextmanager
def served(app: ASGIApp) -> Iterator[str]:
    """`app` under uvicorn in a thread on a free loopback port; yields its base URL.

    tests/harness.py's RunningBot does this for a whole Bot; this is the same for any ASGI app. The
    socket is bound here and handed to uvicorn, rather than picking a port with harness.free_port and
    binding it later, so no other test on this shared machine can take the port in between."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def serve() -> Iterator[Serve]:
    """`serve(app)` starts `app` (see `served`) and returns its base URL; it stops after the test."""
    with contextlib.ExitStack() as stack:
        yield lambda app: stack.enter_context(served(app))
