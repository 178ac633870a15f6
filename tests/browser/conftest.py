"""Fixtures for the console's browser tests: one real `cargowatch run` (ingest, detectors, API
and console) on its own mosquitto and the shared influxd, and Debian's Chromium driven by
Playwright (``/usr/bin/chromium``, never a browser Playwright downloads).

The service is shared by the tests of a module, since starting it is most of their cost; each
test stages its incident on a shipment of its own, so none depends on another's.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The tests import `console_world` from this directory as a top-level module, as the tests
# one level up import `api_world`.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from cargowatch_run import RunProcess  # noqa: E402
from console_world import ARTIFACTS, Console  # noqa: E402
from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402
from services import InfluxServer, MosquittoServer  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def console(
    tmp_path_factory: pytest.TempPathFactory, influxd_shared: InfluxServer
) -> Iterator[Console]:
    broker = MosquittoServer(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    service = RunProcess(
        broker.url,
        influxd_shared.url,
        "console",
        tmp_path_factory.mktemp("run"),
        lateness_s="0",
        default_profile="none",
    )
    try:
        service.start()
        operator_key = service.operator_key("ACME")
        viewer = service.cargowatch("keys", "create", "--org", "ACME", "--role", "viewer")
        assert viewer.returncode == 0, viewer.stderr
        yield Console(service, broker, operator_key, viewer.stdout.strip())
    finally:
        service.close()
        broker.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/bootstrap installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page (its own sessionStorage); fails the test on any script or CSP error."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.on(
        "console",
        lambda message: errors.append(message.text) if message.type == "error" else None,
    )
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-end.png"), full_page=True)
    context.close()
    # A refused request (the viewer's 403) is logged by Chromium as a console error; those the
    # test provoked on purpose are named by it in `expected_errors`.
    expected = getattr(request.node, "expected_errors", ())
    unexpected = [e for e in errors if not any(x in e for x in expected)]
    assert not unexpected, f"the page logged errors: {unexpected}"
