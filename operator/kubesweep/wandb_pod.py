"""What a run's pod gets when its Sweep has `spec.wandb`: a W&B training script runs unchanged.

- Its parameters reach `wandb.config` as W&B's agent hands them over: a file named by
  `WANDB_SWEEP_PARAM_PATH` (`{"lr": {"value": 0.01}, ...}`), which wandb.init() reads.
- What it logs becomes the run's metrics: `wandb_hook` as `sitecustomize.py` on `PYTHONPATH`
  prints kubesweep's `name=value step=N` lines for every `wandb.log` and summary update.
- The W&B run is named after the run (`WANDB_NAME`, `WANDB_RUN_ID`) and grouped by the sweep
  (`WANDB_RUN_GROUP`); `WANDB_MODE`, the project, entity and the API key (from a Secret) as the
  Sweep says.

The files (the parameters, the same as flat JSON for W&B's `${args_json_file}`, and the hook)
are annotations of the pod, projected into it by a downwardAPI volume at MOUNT: no ConfigMap, no
permission beyond creating Jobs, no sidecar, no change to the image. Pure functions.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubesweep import api

MOUNT = "/var/run/kubesweep"
VOLUME = "kubesweep-wandb"
CONFIG_FILE = "wandb-config.json"
ARGS_FILE = "args.json"
HOOK_DIR = "python"
ARGS_JSON_PATH = f"{MOUNT}/{ARGS_FILE}"
ANNOTATION_CONFIG = f"{api.GROUP}/wandb-config"
ANNOTATION_ARGS = f"{api.GROUP}/args-json"
ANNOTATION_HOOK = f"{api.GROUP}/wandb-hook"
HOOK_SOURCE = Path(__file__).with_name("wandb_hook.py").read_text()


def _yaml_safe(value: Any) -> str:
    """JSON that YAML 1.1 (wandb reads the file with yaml.safe_load) reads back as the same
    values: a float always has a dot (`1e-05` alone is a string to YAML 1.1, `1.0e-05` a float)."""
    if isinstance(value, float) and math.isfinite(value):
        text = repr(value)
        return text.replace("e", ".0e") if "e" in text and "." not in text else text
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {_yaml_safe(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_yaml_safe(v) for v in value) + "]"
    return json.dumps(value)


def sweep_param_file(parameters: Mapping[str, Any]) -> str:
    """The file W&B's agent writes for WANDB_SWEEP_PARAM_PATH: each parameter as {"value": v}."""
    return _yaml_safe({name: {"value": value} for name, value in parameters.items()})


def run_id(run_name: str, sweep_uid: str | None) -> str:
    """The W&B run id: the run's name, with the sweep's uid so that a sweep created again under
    the same name (or one of another namespace) in the same W&B project makes new runs."""
    return f"{run_name}-{sweep_uid[:8]}" if sweep_uid else run_name


def _env(settings: api.Wandb, sweep_name: str, sweep_uid: str | None, run_name: str) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "WANDB_MODE", "value": str(settings.mode)},
        {"name": "WANDB_SWEEP_PARAM_PATH", "value": f"{MOUNT}/{CONFIG_FILE}"},
        {"name": "WANDB_RUN_ID", "value": run_id(run_name, sweep_uid)},
        {"name": "WANDB_NAME", "value": run_name},
        {"name": "WANDB_RUN_GROUP", "value": sweep_name},
    ]
    if settings.project:
        env.append({"name": "WANDB_PROJECT", "value": settings.project})
    if settings.entity:
        env.append({"name": "WANDB_ENTITY", "value": settings.entity})
    if settings.api_key_secret is not None and settings.mode == api.WandbMode.ONLINE:
        ref = {"name": settings.api_key_secret.name, "key": settings.api_key_secret.key}
        env.append({"name": "WANDB_API_KEY", "valueFrom": {"secretKeyRef": ref}})
    return [{**var, "value": var["value"].replace("$", "$$")} if "value" in var else var for var in env]


def _add_to_container(container: dict[str, Any], env: list[dict[str, Any]]) -> None:
    """Our env first (the container's own variables of the same names win, as for KUBESWEEP_*),
    the hook's directory in front of the container's own PYTHONPATH, and the volume mounted."""
    own = [v for v in container.get("env") or [] if isinstance(v, dict)]
    names = {v.get("name") for v in own}
    hook_dir = f"{MOUNT}/{HOOK_DIR}"
    for var in own:
        if var.get("name") == "PYTHONPATH" and isinstance(var.get("value"), str):
            var["value"] = f"{hook_dir}:{var['value']}" if var["value"] else hook_dir
    ours = [*env, {"name": "PYTHONPATH", "value": hook_dir}]
    container["env"] = [v for v in ours if v["name"] not in names] + own
    mounts = [
        m
        for m in container.get("volumeMounts") or []
        if not (isinstance(m, dict) and (m.get("name") == VOLUME or m.get("mountPath") == MOUNT))
    ]
    container["volumeMounts"] = [*mounts, {"name": VOLUME, "mountPath": MOUNT, "readOnly": True}]


def _item(path: str, annotation: str) -> dict[str, Any]:
    return {"path": path, "fieldRef": {"fieldPath": f"metadata.annotations['{annotation}']"}}


def add_to_pod(
    pod_template: dict[str, Any],
    settings: Mapping[str, Any],
    *,
    sweep_name: str,
    sweep_uid: str | None,
    run_name: str,
    parameters: Mapping[str, Any],
) -> None:
    """Adds to a run's rendered pod template (in place) what `spec.wandb` (`settings`) asks for:
    the annotations, the downwardAPI volume that makes files of them, its mount and the env of
    every container. A volume or mount of the same name in the template (copied from an earlier
    run's Job) is replaced."""
    parsed = api.Wandb.model_validate(dict(settings))
    meta = pod_template.setdefault("metadata", {})
    meta["annotations"] = {
        **(meta.get("annotations") or {}),
        ANNOTATION_CONFIG: sweep_param_file(parameters),
        # What W&B's agent writes for ${args_json_file}: the parameters as one JSON object.
        ANNOTATION_ARGS: json.dumps(dict(parameters)),
        ANNOTATION_HOOK: HOOK_SOURCE,
    }
    spec = pod_template.setdefault("spec", {})
    volumes = [v for v in spec.get("volumes") or [] if not (isinstance(v, dict) and v.get("name") == VOLUME)]
    items = [
        _item(CONFIG_FILE, ANNOTATION_CONFIG),
        _item(ARGS_FILE, ANNOTATION_ARGS),
        _item(f"{HOOK_DIR}/sitecustomize.py", ANNOTATION_HOOK),
    ]
    spec["volumes"] = [*volumes, {"name": VOLUME, "downwardAPI": {"items": items}}]
    env = _env(parsed, sweep_name, sweep_uid, run_name)
    for container in spec.get("containers") or []:
        if isinstance(container, dict):
            _add_to_container(container, env)
