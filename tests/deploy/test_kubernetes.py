"""deploy/kubernetes/: every manifest is valid against the Kubernetes API schemas (kubernetes-validate,
offline, strict: unknown fields are errors), and the manifests agree with each other, with the image and
with the code: probes on real routes, environment read by the shipped runbookd.yml, the rules ConfigMap
equal to rules/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.conftest import DEPLOY, dockerfile_stages, image_env
from tests.test_docs import routes, shipped_env

K8S = DEPLOY / "kubernetes"
#: The oldest Kubernetes minor these manifests support, and the newest schemas the package has.
VERSIONS = ["1.27.0", kubernetes_validate.latest_version()]
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def docs() -> list[tuple[Path, dict[str, Any]]]:
    """Every YAML document of every manifest file."""
    return [(p, d) for p in MANIFESTS for d in yaml.safe_load_all(p.read_text(encoding="utf-8")) if d]


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    [found] = [d for _, d in docs() if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return found


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_valid_against_the_kubernetes_schemas(version: str) -> None:
    """Each document validates against the OpenAPI-derived schema of its kind (strict) for ``version``."""
    bad = []
    for path, doc in docs():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            bad.append(f"{path.name}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}: "
                       f"{'.'.join(map(str, e.path))}: {e.message}")
    assert not bad, "\n".join(bad)


def test_kustomization_lists_every_manifest_but_the_migration_job() -> None:
    """``kubectl apply -k`` applies every manifest, except the Job that runs before a roll-out."""
    k = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    assert k["kind"] == "Kustomization"
    assert sorted(k["resources"]) == sorted(p.name for p in MANIFESTS if p.name != "migrate-job.yaml")


def test_two_replicas_with_probes_on_the_health_routes() -> None:
    """The Deployment runs 2 replicas, ready on /-/ready and alive on /-/healthy, both routes of the app,
    on the container port the image listens on; roll-outs keep both serving."""
    d = one("Deployment", "runbookd")
    assert d["spec"]["replicas"] == 2
    assert d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    [c] = pod_spec(d)["containers"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        get = c[probe]["httpGet"]
        assert "GET" in routes()[get["path"]]
        assert get["port"] in {p["name"] for p in c["ports"]}
    listen = {e["name"]: e.get("value") for e in c["env"]}["RUNBOOKD_LISTEN"]
    assert listen == image_env(dockerfile_stages()[-1])["RUNBOOKD_LISTEN"]
    assert [p["containerPort"] for p in c["ports"]] == [int(listen.rpartition(":")[2])]


def test_pods_run_as_the_image_user_on_a_read_only_root() -> None:
    """Deployment and migration Job: non-root with the uid the image creates, read-only root filesystem,
    no privilege escalation, no capabilities; /tmp (and the replicas' data directory) writable."""
    uid = int(re.search(r"--uid (\d+)", str(dockerfile_stages()[-1])).group(1))  # type: ignore[union-attr]
    [volume] = [ins.words()[0] for ins in dockerfile_stages()[-1] if ins.keyword == "VOLUME"]
    for workload, writable in ((one("Deployment"), {"/tmp", volume}), (one("Job"), {"/tmp"})):
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == uid
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            empty = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
            assert {m["mountPath"] for m in c["volumeMounts"] if m["name"] in empty} == writable


def test_environment_comes_from_the_secret_and_the_settings_configmap() -> None:
    """Every variable the pods get is one the shipped runbookd.yml reads; credentials come from the
    Secret ``runbookd`` (never a literal value), the rest from the ConfigMap ``runbookd-settings``."""
    settings = one("ConfigMap", "runbookd-settings")
    names = set(settings["data"])
    for workload in (one("Deployment"), one("Job")):
        for c in pod_spec(workload)["containers"]:
            for e in c.get("env", []):
                names.add(e["name"])
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref is not None:
                    assert ref["name"] == "runbookd"
                elif e["name"] != "RUNBOOKD_LISTEN":
                    pytest.fail(f"{c['name']}: {e['name']} is set as a literal; use the Secret or the ConfigMap")
            for src in c.get("envFrom", []):
                assert src["configMapRef"]["name"] == "runbookd-settings"
    assert names <= shipped_env(), sorted(names - shipped_env())
    secret_refs = {e["name"] for e in pod_spec(one("Deployment"))["containers"][0]["env"] if "valueFrom" in e}
    assert {"RUNBOOKD_STORAGE", "RUNBOOKD_ADMIN_TOKEN", "SLACK_BOT_TOKEN", "PAGERDUTY_WEBHOOK_SECRET"} <= secret_refs


def test_migrations_run_as_a_job_of_the_same_image_and_database() -> None:
    """The Job runs `runbookd migrate` once (no restart loop after success) with the Deployment's image
    and storage secret."""
    job, dep = one("Job"), one("Deployment")
    [jc], [dc] = pod_spec(job)["containers"], pod_spec(dep)["containers"]
    assert jc["command"][:2] == ["runbookd", "migrate"] and jc["image"] == dc["image"]
    assert pod_spec(job)["restartPolicy"] in ("OnFailure", "Never")

    def storage(c: dict[str, Any]) -> Any:
        return next(e["valueFrom"] for e in c["env"] if e["name"] == "RUNBOOKD_STORAGE")

    assert storage(jc) == storage(dc)


def test_service_and_disruption_budget_select_the_replicas() -> None:
    """The Service and the PodDisruptionBudget select the Deployment's pods; the budget keeps one up."""
    dep = one("Deployment")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    svc, pdb = one("Service"), one("PodDisruptionBudget")
    assert svc["spec"]["selector"].items() <= labels.items()
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert 1 <= pdb["spec"]["minAvailable"] < dep["spec"]["replicas"]
    [c] = pod_spec(dep)["containers"]
    assert {p["targetPort"] for p in svc["spec"]["ports"]} <= {p["name"] for p in c["ports"]}


def test_rules_configmap_is_rules_directory_mounted_over_the_images_rules() -> None:
    """rules-configmap.yaml is exactly what deploy/kubernetes/rules_configmap.py renders from rules/*.yml,
    and the Deployment mounts it where the image's runbookd.yml looks for rule files."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("rules_configmap", K8S / "rules_configmap.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (K8S / "rules-configmap.yaml").read_text(encoding="utf-8") == module.render(), (
        "deploy/kubernetes/rules-configmap.yaml differs from rules/: run `make k8s-rules`")
    [c] = pod_spec(one("Deployment"))["containers"]
    mount = next(m for m in c["volumeMounts"] if m["name"] == "rules")
    copied = [ins.words() for ins in dockerfile_stages()[-1] if ins.keyword == "COPY" and ins.words()[0] == "rules"]
    assert copied and mount["mountPath"] == copied[0][-1]
    assert next(v for v in pod_spec(one("Deployment"))["volumes"] if v["name"] == "rules")["configMap"]["name"] \
        == one("ConfigMap", "runbookd-rules")["metadata"]["name"]
