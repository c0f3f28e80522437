"""A run's Job rendered from the sweep's template: its name and labels, W&B's macros and
${params.NAME} expanded, the operator's own keys kept its own. Pure functions."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from kubesweep import api, search, wandb_pod
from kubesweep.runs.model import DISRUPTION_POLICY

# Kubernetes keeps Job names to 63 characters (the job-name label carries them).
MAX_JOB_NAME = 63
MAX_LABEL_VALUE = 63
_NUMBER_WIDTH = 4


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:6]


def label_value(sweep_name: str) -> str:
    """The sweep's name as a label value: itself when short enough, else shortened with a hash
    joined by `_`, which no object name has: the shortened form is no other sweep's name."""
    if len(sweep_name) <= MAX_LABEL_VALUE:
        return sweep_name
    return f"{sweep_name[: MAX_LABEL_VALUE - 7].rstrip('-.')}_{_short_hash(sweep_name)}"


def job_name(sweep_name: str, number: int) -> str:
    """`<sweep>-<number, 4+ digits>`, shortened with a hash when too long for a Job name."""
    suffix = f"-{number:0{_NUMBER_WIDTH}d}"
    name = sweep_name + suffix
    if len(name) <= MAX_JOB_NAME:
        return name
    keep = MAX_JOB_NAME - len(suffix) - 7
    return f"{sweep_name[:keep].rstrip('-.')}-{_short_hash(sweep_name)}{suffix}"


# ---------------------------------------------------------------------------------------------
# Parameters into the run: W&B's macros and ${params.NAME}.


def format_value(value: Any) -> str:
    """A parameter value as W&B's agent writes it on a command line."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def verbatim(text: str) -> str:
    """Text that Kubernetes' `$(VAR)` expansion of command, args and env leaves as written
    (`$$` is its escape for `$`): a parameter value reaches the run as recorded."""
    return text.replace("$", "$$")


def args_list(parameters: Mapping[str, Any], hyphens: bool = True) -> list[str]:
    prefix = "--" if hyphens else ""
    return [verbatim(f"{prefix}{name}={format_value(value)}") for name, value in parameters.items()]


def boolean_flags(parameters: Mapping[str, Any]) -> list[str]:
    """W&B's `${args_no_boolean_flags}`: `--name` for true, nothing for false (for argparse's
    store_true flags), `--name=value` for the others."""
    return [
        verbatim(f"--{name}") if value is True else verbatim(f"--{name}={format_value(value)}")
        for name, value in parameters.items()
        if value is not False
    ]


_PARAM_MACRO = re.compile(r"\$\{params\.([^}]+)\}")
_WHOLE_MACROS = {"${args}", "${args_no_hyphens}"}


def _lookup(parameters: Mapping[str, Any], dotted: str) -> Any:
    if dotted in parameters:
        return parameters[dotted]
    node: Any = parameters
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


def expand_string(text: str, parameters: Mapping[str, Any], optional: Collection[str] = ()) -> str:
    """Expands every macro inside one string (lists joined with spaces). `optional` are the
    parameters with conditions: one this run does not have expands to nothing."""
    text = text.replace("${args_json}", verbatim(json.dumps(parameters, separators=(",", ":"))))
    text = text.replace("${args_no_boolean_flags}", " ".join(boolean_flags(parameters)))
    text = text.replace("${args_no_hyphens}", " ".join(args_list(parameters, hyphens=False)))
    text = text.replace("${args}", " ".join(args_list(parameters)))

    def param(match: re.Match[str]) -> str:
        try:
            return verbatim(format_value(_lookup(parameters, match.group(1))))
        except KeyError:
            if match.group(1) in optional:
                return ""
            raise UnknownParameterError(match.group(1)) from None

    return _PARAM_MACRO.sub(param, text)


class UnknownParameterError(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"${{params.{name}}} names no parameter of this sweep")
        self.name = name


def expand_args(
    items: Sequence[str], parameters: Mapping[str, Any], optional: Collection[str] = ()
) -> list[str]:
    """A command or args list: `${args}` standing alone becomes one element per parameter,
    as W&B's agent passes them; inside a longer string every macro expands in place."""
    result: list[str] = []
    for item in items:
        if item == "${args}":
            result.extend(args_list(parameters))
        elif item == "${args_no_hyphens}":
            result.extend(args_list(parameters, hyphens=False))
        elif item == "${args_no_boolean_flags}":
            result.extend(boolean_flags(parameters))
        else:
            result.append(expand_string(item, parameters, optional))
    return result


def _render_container(
    container: dict[str, Any],
    env: list[dict[str, str]],
    parameters: Mapping[str, Any],
    optional: Collection[str] = (),
) -> None:
    for key in ("command", "args"):
        if isinstance(container.get(key), list):
            container[key] = expand_args([str(x) for x in container[key]], parameters, optional)
    own_env = [
        {**var, "value": expand_string(var["value"], parameters, optional)}
        if isinstance(var.get("value"), str)
        else var
        for var in container.get("env") or []
        if isinstance(var, dict)
    ]
    # The operator's variables (KUBESWEEP_*) are its own: the template's are left out, so the
    # run's identity and parameters are always the operator's (and listed first, so the
    # template's own variables can refer to them as $(KUBESWEEP_RUN)).
    container["env"] = env + [var for var in own_env if not _reserved_env(var.get("name"))]


def _reserved(key: str) -> bool:
    return key.startswith(api.GROUP + "/")


# The environment variables the operator sets in every container of a run: this prefix is its own.
RESERVED_ENV_PREFIX = "KUBESWEEP_"


def _reserved_env(name: Any) -> bool:
    return isinstance(name, str) and name.startswith(RESERVED_ENV_PREFIX)


def reserved_keys(template: Mapping[str, Any]) -> list[str]:
    """The operator's own labels and annotations (kubesweep.io/*) that a template carries, on the
    Job or on its pods (a template copied from a run's Job), and its own environment variables
    (KUBESWEEP_*) in a container: render_job leaves them out."""
    pod_template = (template.get("spec") or {}).get("template") or {}
    pod_meta = pod_template.get("metadata") or {}
    found: list[str] = []
    for meta, part in ((template.get("metadata") or {}, "metadata"), (pod_meta, "spec.template.metadata")):
        for kind in ("labels", "annotations"):
            found.extend(f"{part}.{kind}[{key}]" for key in meta.get(kind) or {} if _reserved(key))
    pod_spec = pod_template.get("spec") or {}
    for kind in ("containers", "initContainers"):
        for container in pod_spec.get(kind) or []:
            found.extend(
                f"spec.template.spec.{kind}[{container.get('name')}].env[{var['name']}]"
                for var in container.get("env") or []
                if isinstance(var, dict) and _reserved_env(var.get("name"))
            )
    return found


def _unreserved(mapping: Any) -> dict[str, Any]:
    return {k: v for k, v in (mapping or {}).items() if not _reserved(k)}


def render_job(
    sweep: Mapping[str, Any],
    number: int,
    parameters: Mapping[str, Any],
    *,
    started_again: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Job of run `number` of `sweep`, from its spec.template. The operator's own keys
    (kubesweep.io/*) in the template are left out: a result, a recorded label or a stop copied
    from an earlier run's Job would end, hide or kill every run; so are its own environment
    variables (KUBESWEEP_*): a run's identity and parameters are the operator's."""
    meta = sweep["metadata"]
    sweep_name: str = meta["name"]
    template = copy.deepcopy(sweep["spec"]["template"])
    name = job_name(sweep_name, number)
    labels = {
        **_unreserved(template.get("metadata", {}).get("labels")),
        api.LABEL_SWEEP: label_value(sweep_name),
        api.LABEL_RUN: name,
        api.LABEL_MANAGED_BY: api.MANAGED_BY,
    }
    annotations = {
        **_unreserved(template.get("metadata", {}).get("annotations")),
        api.ANNOTATION_PARAMETERS: json.dumps(parameters, separators=(",", ":"), sort_keys=True),
        api.ANNOTATION_RUN_NUMBER: str(number),
        # A retry's or a rerun's: which run it starts again (and which attempt).
        **(started_again or {}),
    }
    job_spec: dict[str, Any] = template["spec"]
    pod_template = job_spec.setdefault("template", {})
    pod_meta = pod_template.setdefault("metadata", {})
    pod_meta["labels"] = {**_unreserved(pod_meta.get("labels")), **labels}
    if pod_meta.get("annotations"):
        pod_meta["annotations"] = _unreserved(pod_meta["annotations"])
    pod_spec = pod_template.setdefault("spec", {})
    pod_spec.setdefault("restartPolicy", "Never")
    env = [
        {"name": "KUBESWEEP_SWEEP", "value": sweep_name},
        {"name": "KUBESWEEP_RUN", "value": name},
        {"name": "KUBESWEEP_PARAMETERS", "value": verbatim(json.dumps(parameters, separators=(",", ":")))},
    ]
    optional = search.conditional_paths(sweep["spec"].get("parameters") or {})
    for container in pod_spec.get("containers") or []:
        _render_container(container, env, parameters, optional)
    for container in pod_spec.get("initContainers") or []:
        _render_container(container, env, parameters, optional)
    if sweep["spec"].get("wandb") is not None:
        wandb_pod.add_to_pod(
            pod_template,
            sweep["spec"]["wandb"],
            sweep_name=sweep_name,
            sweep_uid=meta.get("uid"),
            run_name=name,
            parameters=parameters,
        )
    # A run is one attempt: W&B retries nothing unless the template says so.
    job_spec.setdefault("backoffLimit", 0)
    if (
        job_spec["backoffLimit"] == 0
        and pod_spec["restartPolicy"] == "Never"
        and "podFailurePolicy" not in job_spec
    ):
        job_spec["podFailurePolicy"] = copy.deepcopy(DISRUPTION_POLICY)
    job_spec.pop("suspend", None)
    if api.LABEL_QUEUE in labels:
        # Created suspended, as Kueue's admission webhook would: no pod before the queue admits it.
        job_spec["suspend"] = True
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": meta.get("namespace"),
            "labels": labels,
            "annotations": annotations,
            "finalizers": [api.JOB_FINALIZER],
            "ownerReferences": [
                {
                    "apiVersion": api.API_VERSION,
                    "kind": api.KIND,
                    "name": sweep_name,
                    "uid": meta.get("uid"),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": job_spec,
    }
