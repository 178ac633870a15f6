"""The console in a real browser, against a real `cargowatch run` fed through its MQTT broker.

An operator signs in with a key, watches a failing reefer's warning arrive in the inbox without
reloading, acknowledges it with a comment and sees its state and history change; the
shipment's page draws the temperature chart and the route map, and the fleet map places the
tracker. A viewer is offered no action, and the API refuses the action all the same.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from console_world import Console, journey_start_ms, screenshot
from ingest_process import wait_for
from playwright.sync_api import Page, Route, expect

pytestmark = pytest.mark.integration

#: Long enough for the detectors to process the readings and the stream to carry the alert.
ALERT_TIMEOUT_MS = 90_000


def sign_in(page: Page, console: Console, key: str, path: str = "/") -> None:
    page.goto(console.base + path)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_be_visible()


def open_alerts(console: Console, shipment_id: str) -> list[dict[str, Any]]:
    response = console.service.call("GET", f"/alerts?shipment_id={shipment_id}&state=open")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


def test_a_reefer_failure_appears_live_and_an_acknowledgement_shows_in_its_history(
    page: Page, console: Console
) -> None:
    start = journey_start_ms()
    console.create_shipment("SHP-R1", "trk-r1", start)
    sign_in(page, console, console.operator_key)
    expect(page.locator("#live")).to_have_text("Live")
    rows = page.locator("#alert-rows tr")
    expect(rows).to_have_count(0)
    screenshot(page, "inbox-before")

    # A mark on this document: a reload or a navigation would lose it.
    page.evaluate("window.sameDocument = true")
    console.stage_reefer_failure("trk-r1", start)
    warning = page.locator("#alert-rows tr", has_text="temp_breach_predicted")
    expect(warning).to_have_count(1, timeout=ALERT_TIMEOUT_MS)
    assert page.evaluate("window.sameDocument === true"), "the page was reloaded"
    expect(warning.locator(".sev")).to_have_text(re.compile(r"warning"))
    expect(warning.locator(".alert-state")).to_have_text("open")
    screenshot(page, "inbox-live-warning")

    warning.get_by_role("button").click()
    expect(page.locator("#detail-title")).to_be_focused()
    history = page.locator("#history li")
    before = history.count()
    assert before >= 1
    page.get_by_label("What is being done (required)").fill("Reefer power checked by the driver")
    page.get_by_role("button", name="Acknowledge").click()

    expect(page.locator("#detail-state")).to_have_text("acknowledged")
    expect(warning.locator(".alert-state")).to_have_text("acknowledged")
    expect(history).to_have_count(before + 1)
    expect(history.last).to_contain_text("ack")
    expect(history.last).to_contain_text("Reefer power checked by the driver")
    screenshot(page, "inbox-acknowledged")
    # A table wider than its column scrolls inside it; nothing of it is drawn under the detail.
    right, overflow = page.locator(".list").evaluate(
        "l => [l.getBoundingClientRect().right, getComputedStyle(l).overflowX]"
    )
    assert right <= page.locator("#detail").bounding_box()["x"] and overflow == "auto"
    # The page showed what the store holds, not its own guess.
    (alert,) = [
        a
        for a in console.service.call("GET", "/alerts?shipment_id=SHP-R1").json()["data"]
        if a["kind"] == "temp_breach_predicted"
    ]
    assert alert["state"] == "acknowledged"

    # Someone else's comment arrives over the stream while this person is typing one.
    draft = page.get_by_label("Comment", exact=True)
    draft.fill("Half-written note")
    other = console.service.call(
        "POST", f"/alerts/{alert['alert_id']}/comment", json={"comment": "Depot informed"}
    )
    assert other.status_code == 200, other.text
    expect(history).to_have_count(before + 2)
    expect(history.last).to_contain_text("Depot informed")
    expect(draft).to_have_value("Half-written note")


def test_the_shipment_page_draws_the_temperature_chart_and_the_route_travelled(
    page: Page, console: Console
) -> None:
    start = journey_start_ms()
    console.create_shipment("SHP-R2", "trk-r2", start)
    console.stage_reefer_failure("trk-r2", start)
    wait_for(lambda: open_alerts(console, "SHP-R2") != [], 90, "the warning to be recorded")

    sign_in(page, console, console.operator_key, "/console/shipments/SHP-R2")
    expect(page.locator("#main")).to_have_attribute("data-ready", "true", timeout=30_000)
    expect(page.locator("#title")).to_have_text("Shipment SHP-R2")
    canvas = page.locator("#temp-chart canvas")
    expect(canvas).to_have_count(1)
    drawn = canvas.evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"""
    )
    assert drawn > 1000, f"the chart canvas has {drawn} painted pixels"
    expect(page.locator("#temp-note")).to_contain_text("Breach predicted at")
    # The band is the profile's (vaccine_2_8), since the manifest leaves the range to it.
    expect(page.locator("#temp-chart")).to_contain_text("high 8 °C")
    route_map = page.locator("#route-map")
    expect(route_map.locator(".land path").first).to_be_attached()
    expect(route_map.locator("path.track")).to_have_count(1)
    expect(route_map.locator("path.route")).to_have_count(1)
    expect(route_map.locator(".zone path")).to_have_count(1)
    assert len(route_map.locator("path.track").get_attribute("d") or "") > 20
    expect(page.locator("#seal-facts")).to_contain_text("closed")
    expect(page.locator("#risk-rows tr")).not_to_have_count(0)
    expect(page.locator("#timeline li").first).to_contain_text("open")
    screenshot(page, "shipment-page")

    page.get_by_role("link", name="Fleet map").click()
    marker = page.locator("#fleet-map a[href='/console/shipments/SHP-R2?organisation=ACME']")
    expect(marker).to_have_count(1, timeout=30_000)
    expect(marker.locator("g.marker")).to_have_class(re.compile(r"sev-warning"))
    # The zone is drawn as its inside, not as the rest of the world, and the view fits the fleet.
    fleet_map = page.locator("#fleet-map")
    zone = fleet_map.locator(".zone path").first.bounding_box()
    whole = fleet_map.bounding_box()
    assert zone is not None and whole is not None
    assert zone["width"] < whole["width"] / 4, (zone, whole)
    screenshot(page, "fleet-map")
    marker.click()
    expect(page.locator("#title")).to_have_text("Shipment SHP-R2")


def test_a_viewer_is_offered_no_action_and_the_api_refuses_one_anyway(
    page: Page, console: Console, request: pytest.FixtureRequest
) -> None:
    start = journey_start_ms()
    console.create_shipment("SHP-R3", "trk-r3", start)
    console.stage_reefer_failure("trk-r3", start)
    wait_for(lambda: open_alerts(console, "SHP-R3") != [], 90, "the warning to be recorded")
    (alert,) = open_alerts(console, "SHP-R3")

    sign_in(page, console, console.viewer_key)
    expect(page.locator("#who")).to_contain_text("viewer")
    row = page.locator(f"#alert-rows tr[data-alert-id='{alert['alert_id']}']")
    row.get_by_role("button").click()
    expect(page.locator("#history li").first).to_be_visible()
    expect(page.locator("#actions")).to_have_count(0)
    expect(page.locator("#detail")).not_to_contain_text("null")
    for name in ("Acknowledge", "Assign", "Comment", "Resolve"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    screenshot(page, "inbox-viewer")

    # Filters narrow the list without a reload: by shipment, then by a state it has none in.
    page.get_by_label("Shipment").fill("SHP-R3")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#alert-rows tr")).to_have_count(1)
    page.get_by_label("State").select_option("resolved")
    expect(page.locator("#alert-rows tr")).to_have_count(0)
    expect(page.get_by_text("No alerts match.")).to_be_visible()
    page.get_by_label("Kind").select_option("temp_breach_predicted")
    page.get_by_label("State").select_option("open")
    expect(page.locator("#alert-rows tr")).to_have_count(1)

    # Answers to quick filter changes may come back in any order: an older one is never shown.
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route(re.compile(r".*/alerts\?.*state=resolved.*"), hold)
    with page.expect_request(re.compile(r".*state=resolved.*")):
        page.get_by_label("State").select_option("resolved")
    page.wait_for_function("() => true")  # lets the route handler take the request
    assert len(held) == 1
    page.get_by_label("State").select_option("open")
    expect(page.locator("#alert-rows tr")).to_have_count(1)
    with page.expect_response(re.compile(r".*state=resolved.*")) as stale:
        held[0].fulfill(response=held[0].fetch())
    assert stale.value.ok
    # Give the page time to handle the stale answer: a slow page can only let the check pass
    # without catching a regression, never fail it.
    page.evaluate("() => new Promise((done) => setTimeout(done, 50))")
    expect(page.locator("#alert-rows tr")).to_have_count(1)
    page.unroute(re.compile(r".*/alerts\?.*state=resolved.*"))

    refused = httpx.post(
        f"{console.base}/alerts/{alert['alert_id']}/ack",
        json={"comment": "not mine to do"},
        headers={"Authorization": f"Bearer {console.viewer_key}"},
        timeout=30,
    )
    assert refused.status_code == 403, refused.text
    assert open_alerts(console, "SHP-R3")[0]["state"] == "open"


def test_an_alert_can_be_acknowledged_from_the_keyboard_alone(page: Page, console: Console) -> None:
    start = journey_start_ms()
    console.create_shipment("SHP-R4", "trk-r4", start)
    console.stage_reefer_failure("trk-r4", start)
    wait_for(lambda: open_alerts(console, "SHP-R4") != [], 90, "the warning to be recorded")

    page.goto(console.base + "/")
    expect(page.get_by_label("API key")).to_be_focused()
    page.keyboard.type(console.operator_key)
    page.keyboard.press("Enter")
    expect(page.locator("#live")).to_have_text("Live")
    expect(page.get_by_role("heading", name=re.compile("^Alerts"))).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("State")).to_be_focused()
    # Back on the page later (the key is kept in the tab): the first Tab offers to skip the bar.
    page.reload()
    expect(page.locator("#live")).to_have_text("Live")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    # The focus ring is drawn: an outline of the focus colour, not the browser's default.
    assert skip.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"

    button = page.locator("#alert-rows tr", has_text="SHP-R4").get_by_role("button")
    button.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#detail-title")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#detail").get_by_role("link", name="SHP-R4")).to_be_focused()
    page.keyboard.press("Tab")
    comment = page.get_by_label("What is being done (required)")
    expect(comment).to_be_focused()
    page.keyboard.type("Driver restarting the reefer unit")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Acknowledge")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#detail-state")).to_have_text("acknowledged")
    expect(page.locator("#detail-title")).to_be_focused()
    expect(page.locator("#history li").last).to_contain_text("Driver restarting the reefer unit")
    screenshot(page, "inbox-keyboard")
