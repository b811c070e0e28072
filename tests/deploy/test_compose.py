"""deploy/compose.yml: valid against the Compose Specification, every file it mounts or builds from is in
the repository, its services find each other, and the real amtool/promtool accept the configs exactly as
the containers see them. (No Docker engine runs here, so ``docker compose config`` is not run.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest

from receiver.rules import check_rule_files
from receiver.settings import load_settings
from tests.conftest import ROOT, TESTDATA
from tests.deploy.conftest import DEPLOY, dockerfile_stages, image_env, load_yaml, run, tool
from tests.fakes.run import parse_args as fakes_args
from tests.test_docs import shipped_env

COMPOSE = DEPLOY / "compose.yml"
SCHEMA = TESTDATA / "compose-spec" / "compose-spec.json"
#: The order in which tests/fakes/run.py serves the fakes from --base-port.
FAKES = ["slack", "pagerduty", "alpaca", "trading"]


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = load_yaml(COMPOSE)
    return doc


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


def runbookd_services() -> dict[str, dict[str, Any]]:
    """The services that run ``runbookd serve`` (the image's default command)."""
    return {n: s for n, s in services().items() if s.get("image") == "runbookd:local" and "command" not in s}


def bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    """``(source in the repository, target in the container)`` of a service's bind mounts."""
    out = []
    for v in service.get("volumes", []):
        src, target = (v["source"], v["target"]) if isinstance(v, dict) else v.split(":")[:2]
        if src.startswith((".", "/")):
            out.append(((DEPLOY / src).resolve(), target))
    return out


def container_view(service: dict[str, Any], root: Path) -> Path:
    """Copy a service's bind mounts under ``root`` at their container paths (what its process reads)."""
    for src, target in bind_mounts(service):
        dest = root / PurePosixPath(target).relative_to("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest)
        else:
            shutil.copy(src, dest)
    return root


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    """deploy/compose.yml validates against compose-spec.json (vendored in tests/testdata/compose-spec/)."""
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
              for e in validator.iter_errors(compose())]
    assert not errors, "\n".join(errors)


def test_the_pipeline_is_all_there() -> None:
    """Prometheus, an Alertmanager pair clustered with each other, PostgreSQL, two runbookd replicas, the
    migration and the fakes."""
    s = services()
    assert {"prometheus", "postgres", "migrate", "fakes"} <= set(s)
    assert len(runbookd_services()) == 2
    ams = {n: v for n, v in s.items() if str(v.get("image", "")).startswith("prom/alertmanager")}
    assert len(ams) == 2
    for name, am in ams.items():
        peers = [a.split("=", 1)[1].split(":")[0] for a in am["command"] if a.startswith("--cluster.peer=")]
        assert peers and set(peers) <= set(ams) - {name}, f"{name} does not cluster with its pair"
    assert s["migrate"]["command"][:2] == ["runbookd", "migrate"]


def test_every_file_a_service_mounts_or_builds_from_is_in_the_repository() -> None:
    """Bind-mount sources and build contexts (with their Dockerfile) exist; named volumes are declared."""
    doc = compose()
    declared = set(doc.get("volumes") or {})
    missing = []
    for name, svc in services().items():
        for src, _ in bind_mounts(svc):
            if not src.exists():
                missing.append(f"{name}: mounts {src.relative_to(ROOT)}, which does not exist")
        for v in svc.get("volumes", []):
            src = v["source"] if isinstance(v, dict) else v.split(":")[0]
            if not src.startswith((".", "/")) and src not in declared:
                missing.append(f"{name}: volume {src} is not declared under volumes:")
        build = svc.get("build")
        if build:
            context = (DEPLOY / build["context"]).resolve()
            if not (context / build.get("dockerfile", "Dockerfile")).is_file():
                missing.append(f"{name}: no {build.get('dockerfile', 'Dockerfile')} in {context}")
    assert not missing, "\n".join(missing)


def test_services_reach_each_other_by_name_and_port() -> None:
    """depends_on, Prometheus targets and Alertmanager webhooks name services of the file, on the ports
    those services listen on."""
    s = services()
    listen = image_env(dockerfile_stages()[-1])["RUNBOOKD_LISTEN"].rpartition(":")[2]
    base = int(s["fakes"]["command"][s["fakes"]["command"].index("--base-port") + 1])
    ports = {n: {listen} for n in runbookd_services()} | {"fakes": {str(base + i) for i in range(4)}}
    ports |= {n: {"9093"} for n in s if n.startswith("alertmanager")}
    bad = [f"{n}: depends on unknown service {d}" for n, v in s.items() for d in v.get("depends_on", []) if d not in s]
    targets: list[tuple[str, str]] = []
    for am in (n for n in s if n.startswith("alertmanager")):
        [(cfg, _)] = bind_mounts(s[am])
        for r in load_yaml(cfg)["receivers"]:
            for w in r.get("webhook_configs", []):
                u = urlsplit(w["url"])
                assert u.path == "/webhook/alertmanager", w["url"]
                targets.append((am, f"{u.hostname}:{u.port}"))
    prom = load_yaml(next(src for src, t in bind_mounts(s["prometheus"]) if t.endswith("prometheus.yml")))
    for am in prom["alerting"]["alertmanagers"]:
        targets += [("prometheus", t) for sc in am["static_configs"] for t in sc["targets"]]
    for job in prom["scrape_configs"]:
        targets += [("prometheus", t) for sc in job["static_configs"] for t in sc["targets"]
                    if not t.startswith("localhost:")]
    for who, target in targets:
        host, _, port = target.partition(":")
        if host not in s:
            bad.append(f"{who}: {target} is not a service")
        elif host in ports and port not in ports[host]:
            bad.append(f"{who}: {target}: {host} listens on {sorted(ports[host])}")
    assert not bad, "\n".join(bad)


def test_alertmanager_pair_keeps_the_shipped_routing() -> None:
    """Both members route as the shipped alertmanager/alertmanager.yml does; A sends to one replica, B to
    the other."""
    shipped = load_yaml(ROOT / "alertmanager" / "alertmanager.yml")
    urls = set()
    for name in ("alertmanager-a", "alertmanager-b"):
        [(cfg, _)] = bind_mounts(services()[name])
        doc = load_yaml(cfg)
        assert doc["route"] == shipped["route"] and doc["global"] == shipped["global"], name
        [hook] = doc["receivers"][0]["webhook_configs"]
        assert {k: v for k, v in hook.items() if k != "url"} == {
            k: v for k, v in shipped["receivers"][0]["webhook_configs"][0].items() if k != "url"}
        urls.add(urlsplit(hook["url"]).hostname)
    assert urls == set(runbookd_services())


def test_amtool_accepts_both_alertmanager_configs(tmp_path: Path) -> None:
    """`amtool check-config` accepts each Alertmanager's config as mounted in its container."""
    amtool = tool("amtool", "prometheus-alertmanager")
    for name in ("alertmanager-a", "alertmanager-b"):
        root = container_view(services()[name], tmp_path / name)
        got = run(amtool, "check-config", str(root / "etc/alertmanager/alertmanager.yml"))
        assert got.returncode == 0, got.stdout + got.stderr


def test_promtool_accepts_the_prometheus_config_with_its_mounted_rules(tmp_path: Path) -> None:
    """`promtool check config` accepts Prometheus' config as its container sees it, alerts.yml included."""
    promtool = tool("promtool", "prometheus")
    root = container_view(services()["prometheus"], tmp_path)
    got = run(promtool, "check", "config", str(root / "etc/prometheus/prometheus.yml"))
    assert got.returncode == 0, got.stdout + got.stderr
    assert "SUCCESS: 1 rule files found" in got.stdout + got.stderr


def test_runbookd_replicas_run_the_shipped_config_against_the_fakes() -> None:
    """The replicas' environment is read by the shipped runbookd.yml, loads, passes the rule check with
    its routing keys, uses PostgreSQL, and points every integration at the fakes with the fakes' own
    credentials: no secret is needed."""
    fakes = fakes_args([])
    base = int(services()["fakes"]["command"][services()["fakes"]["command"].index("--base-port") + 1])
    url = {name: f"http://fakes:{base + i}" for i, name in enumerate(FAKES)}
    for name, svc in runbookd_services().items():
        env = {k: str(v) for k, v in svc["environment"].items()}
        assert set(env) <= shipped_env(), f"{name}: {sorted(set(env) - shipped_env())} not read by runbookd.yml"
        s = load_settings(ROOT / "runbookd.yml", env=env)
        assert s.storage.startswith("postgresql://postgres@postgres:")
        assert not s.dry_run
        assert (s.slack.api_url, s.pagerduty.events_url, s.alpaca.url_override, s.vars["trading_api_url"]) == (
            url["slack"] + "/api/", url["pagerduty"], url["alpaca"], url["trading"])
        assert (s.slack.token, s.alpaca.api_key, s.alpaca.secret_key, s.secrets["trading_admin_token"]) == (
            fakes.slack_token, fakes.alpaca_key, fakes.alpaca_secret, fakes.trading_token)
        assert all(s.pagerduty.routing_keys.values())
        report = check_rule_files(s.rule_files, s.base_dir, default_severity=s.default_severity,
                                  routing_keys=list(s.pagerduty.routing_keys))
        assert report.ok, [str(e) for e in report.errors]


@pytest.mark.parametrize("name", ["runbookd-1", "runbookd-2", "migrate", "fakes"])
def test_runbookd_image_services_run_read_only_with_tmp_and_data_writable(name: str) -> None:
    """Every service of the runbookd image has a read-only root filesystem, a tmpfs /tmp, no
    capabilities; the replicas keep their data on a volume at the image's VOLUME."""
    svc = services()[name]
    assert svc["read_only"] is True and "/tmp" in svc["tmpfs"] and svc["cap_drop"] == ["ALL"]
    if name.startswith("runbookd-"):
        [volume] = [ins.words()[0] for ins in dockerfile_stages()[-1] if ins.keyword == "VOLUME"]
        assert any(str(v).split(":")[1] == volume for v in svc["volumes"])
