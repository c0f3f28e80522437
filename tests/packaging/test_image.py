"""The operator image, checked statically (no container engine here): multi-stage from the wheel,
pinned bases, a non-root user the manifests agree with, `kubesweep run` as the entrypoint."""

from __future__ import annotations

import fnmatch
import json
import shlex
from dataclasses import dataclass, field

from .k8s import ROOT, container, kustomized, render


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [arg for kw, arg in self.instructions if kw == keyword]


def parse(text: str) -> list[Stage]:
    """Dockerfile instructions by stage, continuation lines joined, comments dropped."""
    stages: list[Stage] = []
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        keyword, _, arg = logical.partition(" ")
        logical = ""
        keyword = keyword.upper()
        if keyword == "FROM":
            words = arg.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        else:
            assert stages, f"{keyword} before FROM"
            stages[-1].instructions.append((keyword, arg.strip()))
    return stages


STAGES = parse((ROOT / "Dockerfile").read_text())
FINAL = STAGES[-1]


def test_multi_stage_from_pinned_bases() -> None:
    assert len(STAGES) >= 2
    names = {s.name for s in STAGES if s.name}
    for stage in STAGES:
        if stage.base in names:
            continue
        image, _, tag = stage.base.rpartition(":")
        assert image and tag and tag != "latest", f"unpinned base {stage.base}"


def test_the_build_stage_makes_the_wheel_and_the_final_stage_installs_it_into_a_venv() -> None:
    build = STAGES[0]
    assert any("pip wheel" in r for r in build.all("RUN"))
    install = " ".join(FINAL.all("RUN"))
    assert "python -m venv" in install and "/venv" in install
    assert f"from={build.name}" in install and "kubesweep" in install
    assert "--no-index" in install  # nothing fetched at this stage: only the build stage's wheels
    assert any("/venv/bin" in e for e in FINAL.all("ENV"))


def test_the_final_stage_runs_kubesweep_as_the_non_root_user_of_the_manifests() -> None:
    user = FINAL.all("USER")[-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) == 65532 and (not gid or int(gid) == 65532)
    assert json.loads(FINAL.all("ENTRYPOINT")[-1]) == ["kubesweep", "run"]
    cmd = json.loads(FINAL.all("CMD")[-1])
    assert cmd == container(render([]))["args"][: len(cmd)] == container(kustomized())["args"][: len(cmd)]
    for objects in (render([]), kustomized()):
        pod = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == int(uid)


def test_the_exposed_ports_are_the_probes_and_metrics() -> None:
    ports = {int(p) for arg in FINAL.all("EXPOSE") for p in arg.split()}
    assert ports == {8080, 9090}


def ignored(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") for p in patterns)


def test_what_the_build_copies_exists_and_the_context_leaves_out_the_rest() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for required in (".venv", ".git", "tests"):
        assert ignored(required, patterns), f"{required} would be sent to the build"
    for stage in STAGES:
        for arg in stage.all("COPY"):
            words = shlex.split(arg)
            if any(w.startswith("--from") for w in words):
                continue
            for source in [w for w in words if not w.startswith("--")][:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: missing"
                assert not ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
