"""What can be proven of docker-compose.yml and the Dockerfile without Docker: the files parse,
the image holds every package the project installs, every CARGOWATCH_* variable they set is a
real setting that accepts its value, and the commands the services run are real commands whose
output lands where Grafana's provisioning mount expects it."""

import re
import shlex
from pathlib import Path

import yaml

from cargowatch.cli import _parser
from cargowatch.settings import API, INGEST, parse_values
from dashboards.cli import run as run_dashboards

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SETTINGS = {s.env: s for s in [*INGEST, *API]}


def dockerfile_env() -> dict[str, str]:
    (block,) = re.findall(r"^ENV (.*?)(?:\n(?!\s)|\Z)", DOCKERFILE, re.M | re.S)
    pairs = shlex.split(block.replace("\\\n", " "))
    return dict(pair.split("=", 1) for pair in pairs)


def test_the_image_copies_every_package_pyproject_installs():
    packages = re.search(r"include = \[(.*?)\]", (ROOT / "pyproject.toml").read_text())
    assert packages
    wanted = {p.strip(' "*') for p in packages.group(1).split(",")}
    copied = set(re.findall(r"^COPY (\w+) \./\1$", DOCKERFILE, re.M))
    assert wanted <= copied
    for name in copied:
        assert (ROOT / name).is_dir()


def test_every_variable_the_image_and_the_services_set_is_a_setting_that_takes_its_value():
    variables = dict(dockerfile_env())
    for service in COMPOSE["services"].values():
        variables.update(service.get("environment", {}))
    ours = {k: v for k, v in variables.items() if k.startswith("CARGOWATCH_")}
    assert set(ours) <= set(SETTINGS), set(ours) - set(SETTINGS)
    parse_values([SETTINGS[k] for k in ours], {}, env=ours)  # raises on a value it refuses


def test_the_services_run_real_commands():
    parser = _parser()
    dashboards = COMPOSE["services"]["dashboards"]["command"]
    cargowatch = COMPOSE["services"]["cargowatch"]["entrypoint"][-1]
    commands = [c.strip().split()[1:] for c in re.split(r"&&|exec", cargowatch) if c.strip()]
    for argv in [dashboards, *commands]:
        assert parser.parse_args(argv).command == argv[0]
    assert re.search(r"^CMD \[\"run\"\]$", DOCKERFILE, re.M)


def test_the_dashboards_service_writes_what_grafanas_provisioning_mount_reads(tmp_path):
    services = COMPOSE["services"]
    argv = [
        tmp_path.as_posix() if a == "/provisioning" else a
        for a in services["dashboards"]["command"]
    ]
    assert run_dashboards(_parser().parse_args(argv)) == 0
    mounts = [v.split(":") for v in services["grafana"]["volumes"]]
    assert ["grafana-provisioning", "/etc/grafana/provisioning", "ro"] in mounts
    assert ["grafana-provisioning", "/provisioning"] in [
        v.split(":") for v in services["dashboards"]["volumes"]
    ]
    (source,) = yaml.safe_load((tmp_path / "datasources" / "cargowatch.yaml").read_text())[
        "datasources"
    ]
    assert source["url"] == "http://influxdb:8086" and source["jsonData"]["dbName"] == "cargowatch"
    provider = yaml.safe_load((tmp_path / "dashboards" / "cargowatch.yaml").read_text())
    (path,) = [p["options"]["path"] for p in provider["providers"]]
    assert path.startswith("/etc/grafana/provisioning/")
    assert list((tmp_path / Path(path).relative_to("/etc/grafana/provisioning")).glob("*.json"))
    assert services["influxdb"]["environment"]["INFLUXDB_DB"] == "cargowatch"


def test_every_port_is_published_on_loopback_only():
    for name, service in COMPOSE["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
