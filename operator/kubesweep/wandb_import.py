"""A W&B sweep config (sweep.yaml) as a Sweep manifest: the same search, Kubernetes-native.

Keys are mapped to the CRD's camelCase (`run_cap` -> `runCap`, `early_terminate.min_iter` ->
`earlyTerminate.minIter`); `program`, `command` and W&B's command macros become the run's
container command and args (`${args_json_file}` is the file spec.wandb puts in the pod,
`${args_no_boolean_flags}` kubesweep's macro of the same meaning). Every parameter gets its
distribution written out, as W&B infers it from the file's types (the API server keeps `min: 0.0`
as `0`). The Sweep gets `spec.wandb`, so the program runs unchanged; `project` and `entity` go
there. Keys with no meaning on Kubernetes are reported, never dropped silently.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from typing import Any

from kubesweep import api, wandb_pod
from kubesweep.search import space

TOP_LEVEL = {
    "method",
    "metric",
    "metrics",
    "parameters",
    "run_cap",
    "early_terminate",
    "program",
    "command",
    "name",
    "project",
    "entity",
}
IGNORED_WITH_REASON = {"description": "kept as the annotation kubesweep.io/description"}
EARLY_TERMINATE_KEYS = {
    "type": "type",
    "min_iter": "minIter",
    "max_iter": "maxIter",
    "s": "s",
    "eta": "eta",
    "strict": "strict",
}
METRIC_KEYS = {"name", "goal", "target"}
# W&B's default command: ${env} ${interpreter} ${program} ${args}
DEFAULT_COMMAND = ["${env}", "${interpreter}", "${program}", "${args}"]
NAME_CLEAN = re.compile(r"[^a-z0-9-]+")
# W&B's macros kubesweep expands itself (runs.expand_args); ${args_json_file} is a file of the pod.
MACROS = {"${args}", "${args_no_hyphens}", "${args_no_boolean_flags}", "${args_json}"}
MACRO = re.compile(r"\$\{[^}]*\}")


def _exponent_bounds(kind: str, low: float, high: float) -> tuple[float, float]:
    """W&B's deprecated exponent forms as the actual values of their `_values` twins: the same
    distribution. inv_log_uniform's value is exp(-u) for u in [min, max]."""
    if kind == "inv_log_uniform":
        return math.exp(-high), math.exp(-low)
    return math.exp(low), math.exp(high)


def _parameters(parameters: Any, path: str, warnings: list[str]) -> Any:
    """The parameters verbatim, but log_uniform, q_log_uniform and inv_log_uniform (min/max as
    exponents, which kubesweep refuses) rewritten as their `_values` forms."""
    if not isinstance(parameters, Mapping):
        return copy.deepcopy(parameters)
    out: dict[str, Any] = {}
    for name, spec in parameters.items():
        field = f"{path}.{name}"
        if isinstance(spec, Mapping) and "parameters" in spec:
            out[name] = {
                **copy.deepcopy(dict(spec)),
                "parameters": _parameters(spec["parameters"], f"{field}.parameters", warnings),
            }
            continue
        kind = spec.get("distribution") if isinstance(spec, Mapping) else None
        low, high = (spec.get("min"), spec.get("max")) if isinstance(spec, Mapping) else (None, None)
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
        if kind in ("log_uniform", "q_log_uniform", "inv_log_uniform") and numeric:
            new_low, new_high = _exponent_bounds(kind, float(low), float(high))  # type: ignore[arg-type]
            out[name] = {
                **copy.deepcopy(dict(spec)),
                "distribution": f"{kind}_values",
                "min": new_low,
                "max": new_high,
            }
            warnings.append(
                f"{field}: {kind} (min/max as exponents) rewritten as {kind}_values "
                f"with min {new_low:.6g} and max {new_high:.6g}, the same distribution"
            )
        elif isinstance(spec, Mapping) and kind is None:
            out[name] = _with_distribution(spec, name, field, warnings)
        else:
            out[name] = copy.deepcopy(spec)
    return out


def _with_distribution(spec: Mapping[str, Any], name: str, field: str, warnings: list[str]) -> Any:
    """The parameter with the distribution W&B infers from this file's types, written out: the
    API server stores `min: 0.0` as `0`, and inferred from that, a continuous range would become
    int_uniform."""
    try:
        kind = space.infer_kind(name, spec)
    except space.SearchSpaceError as exc:
        warnings.append(f"{field}: {exc.message}; kept as it is")
        return copy.deepcopy(spec)
    return {"distribution": kind, **copy.deepcopy(dict(spec))}


def _name(config: dict[str, Any], name: str | None) -> str:
    raw = name or str(config.get("name") or "sweep")
    cleaned = NAME_CLEAN.sub("-", raw.lower()).strip("-")[:63].strip("-")
    return cleaned or "sweep"


def _command(config: dict[str, Any], warnings: list[str]) -> list[str]:
    program = config.get("program")
    command = config.get("command") or DEFAULT_COMMAND
    if not isinstance(command, list):
        warnings.append("command: must be a list; using W&B's default")
        command = DEFAULT_COMMAND
    out: list[str] = []
    for item in command:
        text = str(item)
        if text == "${env}":
            continue  # /usr/bin/env: the container has its own environment
        if text == "${interpreter}":
            out.append("python")
        elif text == "${program}":
            if program is None:
                warnings.append(
                    "program: not set but ${program} is in the command; set it in the container args"
                )
                continue
            out.append(str(program))
        elif text == "${args_json_file}":
            # What W&B's agent writes there, the parameters as one JSON object: spec.wandb's file.
            out.append(wandb_pod.ARGS_JSON_PATH)
        else:
            text = text.replace("${args_json_file}", wandb_pod.ARGS_JSON_PATH)
            for macro in MACRO.findall(text):
                if macro not in MACROS and not macro.startswith("${params."):
                    warnings.append(f"{macro}: not a macro kubesweep expands; kept as it is")
            out.append(text)
    return out


def convert(
    config: dict[str, Any],
    *,
    image: str,
    name: str | None = None,
    parallelism: int | None = None,
    wandb: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The Sweep manifest for a W&B sweep config, and warnings about what did not carry over.
    `wandb` is spec.wandb without project and entity, which come from the config."""
    if not isinstance(config, dict):
        raise ValueError("a W&B sweep config is a mapping (method, metric, parameters, ...)")
    warnings: list[str] = []
    spec: dict[str, Any] = {}
    if "method" not in config:
        raise ValueError("the config has no method (grid, random or bayes)")
    spec["method"] = config["method"]
    if "metric" in config:
        metric = dict(config["metric"] or {})
        for key in sorted(set(metric) - METRIC_KEYS):
            warnings.append(f"metric.{key}: not supported, dropped")
            metric.pop(key)
        spec["metric"] = metric
    if isinstance(config.get("metrics"), list):
        # W&B's list of several objectives: kubesweep's spec.metrics, name and goal each.
        objectives = []
        for index, item in enumerate(config["metrics"]):
            objective = dict(item) if isinstance(item, Mapping) else {}
            for key in sorted(set(objective) - {"name", "goal"}):
                warnings.append(f"metrics[{index}].{key}: not supported with several objectives, dropped")
                objective.pop(key)
            objectives.append(objective)
        spec["metrics"] = objectives
    if "parameters" not in config:
        raise ValueError("the config has no parameters")
    spec["parameters"] = _parameters(config["parameters"], "parameters", warnings)
    if "run_cap" in config:
        spec["runCap"] = config["run_cap"]
    if "early_terminate" in config:
        early: dict[str, Any] = {}
        for key, value in (config["early_terminate"] or {}).items():
            if key in EARLY_TERMINATE_KEYS:
                early[EARLY_TERMINATE_KEYS[key]] = value
            else:
                warnings.append(f"early_terminate.{key}: not supported, dropped")
        # W&B's schema fills strict in as true; kubesweep's default is false, so say it.
        early.setdefault("strict", True)
        spec["earlyTerminate"] = early
    if parallelism is not None:
        spec["parallelism"] = parallelism
    command = _command(config, warnings)
    spec["template"] = {
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "train", "image": image, "command": command}],
                }
            },
        }
    }
    spec["wandb"] = {
        **(wandb or {"mode": "offline"}),
        **{key: str(config[key]) for key in ("project", "entity") if config.get(key)},
    }
    metadata: dict[str, Any] = {"name": _name(config, name)}
    if config.get("description"):
        metadata["annotations"] = {"kubesweep.io/description": str(config["description"])}
    for key in sorted(config):
        if key in TOP_LEVEL:
            continue
        reason = IGNORED_WITH_REASON.get(key, "not a W&B sweep key kubesweep knows; dropped")
        if key != "description":
            warnings.append(f"{key}: {reason}")
    manifest = {"apiVersion": api.API_VERSION, "kind": api.KIND, "metadata": metadata, "spec": spec}
    return manifest, warnings
