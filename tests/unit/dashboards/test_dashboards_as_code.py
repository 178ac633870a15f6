"""Every dashboard builds, round-trips through grafana-foundation-sdk's models, has a stable
unique uid, takes its data source from the variable, and documents every panel."""

import json

import pytest
import yaml

from dashboards.catalogue import DASHBOARDS, render, render_all
from dashboards.common import DATASOURCE_VAR, band_thresholds, temperature_bands
from dashboards.influx import dashboard_from_json
from dashboards.provisioning import DATASOURCE_UID, InfluxSettings, write
from dashboards.queries import queries_of
from detectors.profiles import PROFILES

BOARDS = render_all()


@pytest.mark.parametrize("board", BOARDS, ids=[b["uid"] for b in BOARDS])
def test_a_dashboard_round_trips_through_the_librarys_models(board):
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    again = json.loads(json.dumps(dashboard_from_json(board), cls=JSONEncoder))
    assert again == board


def test_uids_are_unique_and_the_same_at_every_build():
    uids = [b["uid"] for b in BOARDS]
    assert len(set(uids)) == len(uids) == len(DASHBOARDS)
    assert uids == [render(build())["uid"] for build in DASHBOARDS.values()]
    assert uids == [
        "cargowatch-fleet",
        "cargowatch-shipment",
        "cargowatch-customs",
        "cargowatch-ingest",
    ]
    assert all(len(u) <= 40 for u in uids)  # Grafana's limit


@pytest.mark.parametrize("board", BOARDS, ids=[b["uid"] for b in BOARDS])
def test_every_data_source_reference_resolves_to_the_datasource_variable(board):
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables[DATASOURCE_VAR]["type"] == "datasource"
    assert variables[DATASOURCE_VAR]["query"] == "influxdb"
    refs = [t["datasource"] for p in board["panels"] for t in p["targets"]]
    refs += [v["datasource"] for v in variables.values() if v["type"] == "query"]
    refs += [a["datasource"] for a in board["annotations"].get("list", [])]
    assert refs and all(r == {"type": "influxdb", "uid": f"${{{DATASOURCE_VAR}}}"} for r in refs)


@pytest.mark.parametrize("board", BOARDS, ids=[b["uid"] for b in BOARDS])
def test_every_panel_has_a_description_a_unit_and_a_place_of_its_own(board):
    ids = [p["id"] for p in board["panels"]]
    assert len(set(ids)) == len(ids)
    for panel in board["panels"]:
        assert panel.get("description"), panel["title"]
        assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]
    cells = set()
    for panel in board["panels"]:
        g = panel["gridPos"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        assert g["x"] + g["w"] <= 24
        cells |= mine


@pytest.mark.parametrize("board", BOARDS, ids=[b["uid"] for b in BOARDS])
def test_every_variable_a_query_uses_is_defined(board):
    import re

    defined = {v["name"] for v in board["templating"]["list"]}
    for q in queries_of(board):
        used = set(re.findall(r"\$\{(\w+)", q.query)) | set(re.findall(r"\$(?!\{)(\w+)", q.query))
        assert used - {"timeFilter", "__interval", "__interval_ms", "interval"} <= defined, q.key


def test_the_temperature_band_of_every_profile_is_the_profiles_own():
    (board,) = [b for b in BOARDS if b["uid"] == "cargowatch-shipment"]
    (panel,) = [p for p in board["panels"] if p["title"].startswith("Product temperature")]
    overrides = {
        o["matcher"]["options"]: o["properties"][0]["value"]
        for o in panel["fieldConfig"]["overrides"]
    }
    for name, profile in PROFILES.items():
        if profile.temp_range_c is None:
            continue
        low, high = profile.temp_range_c
        assert overrides[f"^{name} (min|max)$"] == band_thresholds(low, high)
    profile_variable = next(v for v in board["templating"]["list"] if v["name"] == "profile")
    assert 'FROM "shipments"' in profile_variable["query"]  # as the ingester recorded it
    assert profile_variable["current"]["value"] == next(iter(temperature_bands()))
    band = panel["fieldConfig"]["overrides"][-1]
    assert band["matcher"]["options"] == "^band (low|high)$"
    assert {t["refId"] for t in panel["targets"]} == {"A", "B"}


def test_alerts_are_drawn_as_regions_from_open_to_resolve():
    (board,) = [b for b in BOARDS if b["uid"] == "cargowatch-shipment"]
    (periods,) = [a for a in board["annotations"]["list"] if a["name"] == "Alert periods"]
    assert periods["timeEndColumn"] == "resolved_at_ms"
    assert "titleColumn" not in periods  # Grafana takes a column as title before as text
    assert (periods["textColumn"], periods["tagsColumn"]) == ("summary", "kind")
    assert 'FROM "alert_spans"' in periods["query"]


def test_the_provisioning_files_parse_and_point_at_the_written_dashboards(tmp_path):
    written = write(tmp_path, InfluxSettings(url="http://influxdb:8086", auth="token"))
    datasources = yaml.safe_load((tmp_path / "datasources" / "cargowatch.yaml").read_text())
    (ds,) = datasources["datasources"]
    assert (ds["uid"], ds["type"], ds["url"]) == (
        DATASOURCE_UID,
        "influxdb",
        "http://influxdb:8086",
    )
    assert ds["jsonData"]["dbName"] == "cargowatch"
    assert ds["secureJsonData"] == {"httpHeaderValue1": "Token $CARGOWATCH_INFLUX_TOKEN"}
    providers = yaml.safe_load((tmp_path / "dashboards" / "cargowatch.yaml").read_text())
    (provider,) = providers["providers"]
    assert provider["options"]["path"] == "/etc/grafana/provisioning/dashboards/cargowatch"
    on_disk = sorted(p.name for p in (tmp_path / "dashboards" / "cargowatch").iterdir())
    assert on_disk == sorted(f"{b['uid']}.json" for b in BOARDS)
    assert len(written) == len(BOARDS) + 2
    for board in BOARDS:
        assert (
            json.loads(
                (tmp_path / "dashboards" / "cargowatch" / f"{board['uid']}.json").read_text()
            )
            == board
        )


def test_the_build_command_writes_the_same_files(tmp_path):
    from cargowatch.cli import main

    assert main(["dashboards", "build", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "dashboards" / "cargowatch" / "cargowatch-fleet.json").exists()
