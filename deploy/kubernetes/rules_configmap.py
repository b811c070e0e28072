"""Write deploy/kubernetes/rules-configmap.yaml: the ConfigMap ``runbookd-rules`` holding rules/*.yml.

``python deploy/kubernetes/rules_configmap.py`` (``make k8s-rules``), the offline equivalent of
``kubectl create configmap runbookd-rules --from-file=rules/ --dry-run=client -o yaml``. The unit tests
of rules/tests/ are not deployed. tests/test_deploy.py fails while the file differs from rules/.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "deploy" / "kubernetes" / "rules-configmap.yaml"
HEADER = "# Generated from rules/*.yml by deploy/kubernetes/rules_configmap.py (make k8s-rules): do not edit.\n"


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings as literal blocks (``|``), so the rule files stay readable."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def render() -> str:
    """The manifest's text for the rule files as they are now."""
    doc = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "runbookd-rules", "labels": {"app.kubernetes.io/name": "runbookd"}},
        "data": {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "rules").glob("*.yml"))},
    }
    return HEADER + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}", file=sys.stderr)
