"""docs/install.md says what the packaging does: its permission table is the RBAC the tests
enforce, and its Lua snippet is the tested Argo CD health check."""

from __future__ import annotations

import re

import yaml

from .k8s import ROOT
from .test_packaging import ALLOWED

DOC = (ROOT / "docs" / "install.md").read_text()


def test_the_permission_table_is_the_enforced_rbac() -> None:
    section = DOC.split("### Permissions", 1)[1].split("###", 1)[0]
    table: dict[tuple[str, str], set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[1].startswith("`"):
            group = "" if cells[0] == "core" else cells[0].strip("`")
            table[(group, cells[1].strip("`"))] = {v.strip() for v in cells[2].split(",")}
    assert table == ALLOWED


def test_the_lua_snippet_is_the_tested_health_check() -> None:
    blocks = re.findall(r"```lua\n(.*?)```", DOC, flags=re.DOTALL)
    assert blocks == [(ROOT / "deploy" / "argocd-health.lua").read_text()]


def test_every_chart_value_is_documented() -> None:
    values = yaml.safe_load((ROOT / "helm" / "kubesweep" / "values.yaml").read_text())
    for key in values:
        assert f"`{key}" in DOC, f"values.yaml key {key} is not in docs/install.md"
