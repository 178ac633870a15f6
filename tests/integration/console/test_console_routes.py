"""The console as HTTP serves it: pages under a strict Content-Security-Policy with no inline
script or style, every file a page loads present and of the right type, nothing outside the
console's folder reachable, the vendored libraries each with their licence and the versions
package.json pins, and ``/console/session`` telling each role what it may do, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from api_world import ACT_ON_ALERTS, KEYS, World, build_world
from fastapi.testclient import TestClient

from api.app import create_app
from api.console import PAGES, STATIC
from api.console.vendor import FILES, HERE, VENDOR
from api.routes.console import CSP

PAGE_PATHS = ["/console/", "/console/map", "/console/shipments/SHP-A1"]


@pytest.fixture
def world(sql_url: str) -> Iterator[World]:
    world = build_world(sql_url)
    with TestClient(create_app(world.sessions)) as client:
        world.client = client
        yield world
    world.close()


def http(world: World) -> TestClient:
    """The world's client of its app."""
    assert world.client is not None
    return world.client


class _Loads(HTMLParser):
    """What a page loads, and anything inline it should not have."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script" and not named.get("src"):
            self.inline.append("a script without src")
        if tag == "style":
            self.inline.append("a style element")
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.inline.append(f"{name}= on <{tag}>")
            if name in ("src", "href") and value and value.startswith("/console/static/"):
                self.urls.append(value)


def test_a_browser_at_the_root_is_sent_to_the_inbox(world: World) -> None:
    response = http(world).get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/console/"


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_a_page_loads_without_a_key_under_a_policy_that_allows_only_this_origin(
    world: World, path: str
) -> None:
    response = http(world).get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    loads = _Loads()
    loads.feed(response.text)
    assert loads.inline == []
    for url in loads.urls:
        found = http(world).get(url)
        assert found.status_code == 200, url
        assert found.headers["content-security-policy"] == policy


def test_every_page_in_the_folder_is_served(world: World) -> None:
    served = {http(world).get(p).text for p in PAGE_PATHS}
    assert served == {page.read_text() for page in PAGES.glob("*.html")}


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/console/static/../../app.py", id="a parent folder"),
        pytest.param("/console/static/%2e%2e/__init__.py", id="an encoded parent folder"),
        pytest.param("/console/static/..%2f..%2fapp.py", id="an encoded slash"),
        pytest.param("/console/static/vendor/uplot/LICENSE", id="a file of no served type"),
        pytest.param("/console/static/missing.js", id="a file that is not there"),
        pytest.param("/console/static/", id="the folder itself"),
        pytest.param("/console/shipments/not%20an%20id", id="a shipment id of the wrong shape"),
    ],
)
def test_nothing_but_the_console_files_is_served(world: World, path: str) -> None:
    assert http(world).get(path).status_code in (404, 422)


@pytest.mark.parametrize(
    "path, media_type",
    [
        ("/console/static/inbox.js", "text/javascript"),
        ("/console/static/console.css", "text/css"),
        ("/console/static/vendor/d3-geo/d3-geo.min.js", "text/javascript"),
        ("/console/static/vendor/world-atlas/countries-50m.json", "application/json"),
    ],
)
def test_console_files_carry_their_type_and_may_not_be_sniffed(
    world: World, path: str, media_type: str
) -> None:
    response = http(world).get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert response.headers["x-content-type-options"] == "nosniff"


def test_every_vendored_library_is_the_pinned_version_with_its_licence() -> None:
    pinned = json.loads((HERE / "package.json").read_text())["dependencies"]
    locked = json.loads((HERE / "package-lock.json").read_text())["packages"]
    versions = (VENDOR / "VERSIONS").read_text()
    assert set(FILES) == set(pinned)
    for package, files in FILES.items():
        assert locked[f"node_modules/{package}"]["version"] == pinned[package]
        assert f"{package} {pinned[package]} (npm)" in versions
        assert (VENDOR / package / "LICENSE").is_file()
        for name in files:
            assert (VENDOR / package / name.rsplit("/", 1)[-1]).is_file()


def test_the_scripts_reach_no_other_origin() -> None:
    """No CDN: no script of the console's own names a host to fetch from."""
    for script in STATIC.glob("*.js"):
        # The SVG namespace is a name, not an address anything is fetched from.
        text = script.read_text().replace("http://www.w3.org/2000/svg", "")
        assert not re.search(r"https?://", text), script.name


def test_a_session_needs_a_valid_key(world: World) -> None:
    assert http(world).get("/console/session").status_code == 401
    bad = {"Authorization": "Bearer cw_00000000_nope"}
    assert http(world).get("/console/session", headers=bad).status_code == 401


@pytest.mark.parametrize("who", list(KEYS))
def test_a_session_says_what_the_keys_role_may_do(world: World, who: str) -> None:
    response = http(world).get("/console/session", headers=world.headers(who))
    assert response.status_code == 200
    session = response.json()
    organisation, role = KEYS[who]
    assert (session["organisation"], session["role"]) == (organisation, role)
    assert session["may_act_on_alerts"] is (who in ACT_ON_ALERTS)
    assert world.keys[who] not in response.text
    assert session["profile_ranges_c"]["vaccine_2_8"] == [2.0, 8.0]


def test_the_documented_policy_is_the_one_served() -> None:
    text = (Path(__file__).resolve().parents[3] / "docs" / "console.md").read_text()
    assert f"Content-Security-Policy: {CSP}\n" in text
