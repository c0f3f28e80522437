"""spec.wandb: what a run's pod gets (rendering), and the hook run with the real wandb, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesweep import runs, wandb_hook, wandb_pod
from kubesweep.sandbox import kubelet

PARAMS = {"lr": 1e-05, "batch_size": 64, "optimizer": "adam", "nested": {"depth": 2.0}}


def sweep(wandb: dict[str, Any] | None, **container: Any) -> dict[str, Any]:
    template = {
        "spec": {
            "template": {
                "metadata": {"annotations": {"kubesweep.io/wandb-hook": "copied from an old Job"}},
                "spec": {
                    "containers": [
                        {"name": "train", "image": "i", "command": ["python", "train.py"], **container}
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                },
            }
        }
    }
    spec: dict[str, Any] = {"method": "grid", "parameters": {}, "template": template}
    if wandb is not None:
        spec["wandb"] = wandb
    return {"metadata": {"name": "lr-search", "namespace": "ml", "uid": "0123456789ab"}, "spec": spec}


def pod_of(job: dict[str, Any]) -> dict[str, Any]:
    template: dict[str, Any] = job["spec"]["template"]
    return template


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {v["name"]: v.get("value", v.get("valueFrom")) for v in container["env"]}


def test_without_spec_wandb_the_pod_gets_nothing_of_it() -> None:
    pod = pod_of(runs.render_job(sweep(None), 1, PARAMS))
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["data"]
    assert not any(k.startswith("kubesweep.io/wandb") for k in pod["metadata"].get("annotations") or {})
    assert not any(v["name"].startswith("WANDB_") for v in pod["spec"]["containers"][0]["env"])


def test_the_pod_gets_the_volume_from_its_annotations_the_mount_and_the_env() -> None:
    wandb = {"mode": "online", "project": "demo", "entity": "me", "apiKeySecret": {"name": "wb", "key": "k"}}
    pod = pod_of(runs.render_job(sweep(wandb), 7, PARAMS))
    annotations = pod["metadata"]["annotations"]
    # W&B's format for WANDB_SWEEP_PARAM_PATH, read back by wandb as YAML: 1e-05 stays a float.
    assert yaml.safe_load(annotations[wandb_pod.ANNOTATION_CONFIG]) == {
        k: {"value": v} for k, v in PARAMS.items()
    }
    assert json.loads(annotations[wandb_pod.ANNOTATION_ARGS]) == PARAMS
    assert annotations[wandb_pod.ANNOTATION_HOOK] == Path(wandb_hook.__file__).read_text()
    volume = pod["spec"]["volumes"][-1]
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["data", wandb_pod.VOLUME]
    assert {i["path"]: i["fieldRef"]["fieldPath"] for i in volume["downwardAPI"]["items"]} == {
        "wandb-config.json": "metadata.annotations['kubesweep.io/wandb-config']",
        "args.json": "metadata.annotations['kubesweep.io/args-json']",
        "python/sitecustomize.py": "metadata.annotations['kubesweep.io/wandb-hook']",
    }
    container = pod["spec"]["containers"][0]
    assert container["volumeMounts"] == [
        {"name": wandb_pod.VOLUME, "mountPath": "/var/run/kubesweep", "readOnly": True}
    ]
    env = env_of(container)
    assert env["WANDB_MODE"] == "online"
    assert env["WANDB_SWEEP_PARAM_PATH"] == "/var/run/kubesweep/wandb-config.json"
    assert env["PYTHONPATH"] == "/var/run/kubesweep/python"
    assert env["WANDB_NAME"] == "lr-search-0007"
    assert env["WANDB_RUN_ID"] == "lr-search-0007-01234567"  # unique across sweeps of one name
    assert env["WANDB_RUN_GROUP"] == "lr-search"
    assert env["WANDB_PROJECT"] == "demo" and env["WANDB_ENTITY"] == "me"
    assert env["WANDB_API_KEY"] == {"secretKeyRef": {"name": "wb", "key": "k"}}
    assert env["KUBESWEEP_RUN"] == "lr-search-0007"


def test_offline_by_default_and_the_key_only_online() -> None:
    container = pod_of(runs.render_job(sweep({"apiKeySecret": {"name": "wb", "key": "k"}}), 1, PARAMS))[
        "spec"
    ]["containers"][0]
    env = env_of(container)
    assert env["WANDB_MODE"] == "offline"
    assert "WANDB_API_KEY" not in env and "WANDB_PROJECT" not in env


def test_the_containers_own_env_wins_and_its_pythonpath_keeps_its_entries() -> None:
    own = [{"name": "PYTHONPATH", "value": "/app"}, {"name": "WANDB_MODE", "value": "disabled"}]
    mounts = [{"name": wandb_pod.VOLUME, "mountPath": "/elsewhere"}, {"name": "data", "mountPath": "/data"}]
    pod = pod_of(runs.render_job(sweep({"mode": "offline"}, env=own, volumeMounts=mounts), 1, PARAMS))
    container = pod["spec"]["containers"][0]
    env = env_of(container)
    assert env["PYTHONPATH"] == "/var/run/kubesweep/python:/app"
    assert env["WANDB_MODE"] == "disabled"
    assert [n for n in (v["name"] for v in container["env"]) if n in ("PYTHONPATH", "WANDB_MODE")] == [
        "PYTHONPATH",
        "WANDB_MODE",
    ]  # once each
    # A mount copied from an earlier run's Job is replaced, not doubled (the API server refuses that).
    assert [m["name"] for m in container["volumeMounts"]] == ["data", wandb_pod.VOLUME]


def test_the_sandbox_kubelet_makes_files_of_the_volume_and_maps_its_mount_path(tmp_path: Path) -> None:
    pod = pod_of(runs.render_job(sweep({}), 1, PARAMS))
    pod["metadata"].update(name="p", namespace="ml", uid="u")
    container = pod["spec"]["containers"][0]
    mounts = kubelet.downward_api_mounts(pod, container, tmp_path)
    local = Path(mounts["/var/run/kubesweep"])
    assert (local / "python" / "sitecustomize.py").read_text() == wandb_pod.HOOK_SOURCE
    assert json.loads((local / "args.json").read_text()) == PARAMS
    assert kubelet.remount("/var/run/kubesweep/python:/app", mounts) == f"{local}/python:/app"


# ---------------------------------------------------------------------------------------------
# The hook with the real wandb, in a subprocess as in a pod.

SCRIPT = """
import wandb
run = wandb.init(config={"lr": 0.5, "epochs": 3})
print("config", dict(wandb.config), flush=True)
for i in range(3):
    wandb.log({"loss": 1.0 / (i + 1), "val": {"acc": i / 10}, "text": "x", "flag": True})
wandb.log({"partial": 1}, commit=False)
wandb.log({"other": 2})
wandb.log({"jump": 5}, step=10)
wandb.log({"dropped": 5}, step=3)
run.summary["best"] = 0.25
wandb.summary.update({"final": 7})
run.finish()
"""


def run_hooked(tmp_path: Path, mode: str, script: str = SCRIPT, site: Path | None = None) -> str:
    pod = pod_of(runs.render_job(sweep({"mode": mode}), 1, {"lr": 1e-05, "optimizer": "adam"}))
    container = pod["spec"]["containers"][0]
    mounts = kubelet.downward_api_mounts(pod, container, tmp_path)
    env = {v["name"]: kubelet.remount(v["value"], mounts) for v in container["env"] if "value" in v}
    if site is not None:
        env["PYTHONPATH"] += os.pathsep + str(site)
    (tmp_path / "train.py").write_text(textwrap.dedent(script))
    done = subprocess.run(
        [sys.executable, "train.py"],
        cwd=tmp_path,
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "WANDB_DIR": str(tmp_path),
            "WANDB_SILENT": "true",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("mode", ["offline", "disabled"])
def test_a_wandb_script_gets_its_parameters_and_its_logs_become_metric_lines(
    tmp_path: Path, mode: str
) -> None:
    out = run_hooked(tmp_path, mode)
    # The sweep's values win over the script's defaults, as under W&B's agent.
    assert "config {'lr': 1e-05, 'epochs': 3, 'optimizer': 'adam'}" in out
    lines = [line for line in out.splitlines() if line.startswith("kubesweep:")]
    assert lines == [
        "kubesweep: step=0 loss=1.0 val.acc=0.0",
        "kubesweep: step=1 loss=0.5 val.acc=0.1",
        "kubesweep: step=2 loss=0.3333333333333333 val.acc=0.2",
        "kubesweep: step=3 partial=1.0",
        "kubesweep: step=3 other=2.0",
        "kubesweep: step=10 jump=5.0",
        "kubesweep: best=0.25",
        "kubesweep: final=7.0",
    ]
    final, steps = runs.parse_log(out)
    assert final["loss"] == pytest.approx(1 / 3) and final["best"] == 0.25 and "dropped" not in final
    loss_steps = runs.metric_steps(steps, "loss")
    assert [step for step, _ in loss_steps] == [0, 1, 2]
    assert [value for _, value in loss_steps] == pytest.approx([1.0, 0.5, 1 / 3])


def test_the_images_own_sitecustomize_still_runs(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import builtins\nbuiltins.IMAGE_SITE = 'ran'\n")
    out = run_hooked(tmp_path, "disabled", "import builtins, wandb\nprint(builtins.IMAGE_SITE)\n", site)
    assert out.strip() == "ran"


def test_a_script_without_wandb_is_left_alone(tmp_path: Path) -> None:
    out = run_hooked(tmp_path, "offline", "import sys\nprint('wandb' in sys.modules)\n")
    assert out.strip() == "False"


def test_the_hook_is_python_3_7_and_standard_library_only() -> None:
    """It runs under the Python of the user's image, not ours."""
    import ast

    tree = ast.parse(wandb_pod.HOOK_SOURCE, feature_version=(3, 7))
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        for name in (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    }
    assert imported - {"wandb"} <= set(sys.stdlib_module_names) | {"__future__"}
