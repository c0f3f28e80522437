"""Runs: the Job of a run rendered from the sweep's template, and a run read back from its
Job and pods. Pure functions; no API calls."""

from __future__ import annotations

import copy
import datetime
import hashlib
import itertools
import json
import math
import re
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubesweep import api, search, wandb_pod
from kubesweep.api import RunState

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


def render_job(sweep: Mapping[str, Any], number: int, parameters: Mapping[str, Any]) -> dict[str, Any]:
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


# ---------------------------------------------------------------------------------------------
# Metrics out of the run.

_PAIR = re.compile(r"(?<![\w.-])([A-Za-z_][\w./-]*)=([^\s,;]+)")


def _to_float(text: Any) -> float | None:
    if isinstance(text, bool):
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def parse_pairs(line: str) -> dict[str, float]:
    """The numeric `name=value` pairs of one line."""
    pairs: dict[str, float] = {}
    for name, raw in _PAIR.findall(line):
        value = _to_float(raw)
        if value is not None:
            pairs[name] = value
    return pairs


def parse_termination_message(message: str | None) -> dict[str, float]:
    """A JSON object, or `name=value` lines."""
    if not message or not message.strip():
        return {}
    text = message.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            return {k: v for k, v in ((str(k), _to_float(v)) for k, v in data.items()) if v is not None}
    metrics: dict[str, float] = {}
    for line in text.splitlines():
        metrics.update(parse_pairs(line))
    return metrics


def parse_log(log: str) -> tuple[dict[str, float], list[tuple[int, dict[str, float]]]]:
    """Final metrics (the last value of each name) and intermediate values (lines with step=N)."""
    parser = LogParser()
    parser.feed(log.encode())
    parser.close()
    return parser.final, parser.steps


# A run's log may be hundreds of MB: it is read as a stream and parsed as it comes, with what is
# kept bounded. A line longer than MAX_LOG_LINE is parsed in pieces cut at whitespace; names past
# the first MAX_LOG_NAMES are dropped (a record keeps a few anyway: bounded_metrics), except the
# sweep's metric; MAX_LOG_STEPS step lines are kept, the first ones (hyperband's bands count them
# from the start).
MAX_LOG_LINE = 64 * 1024
MAX_LOG_NAMES = 1000
MAX_LOG_STEPS = 10_000
MAX_STEP_NAMES = 10


class LogParser:
    """parse_log's semantics over a log fed in chunks of bytes, in memory bounded whatever the
    log's size: the last value of each name wins, `step=N` lines are intermediate values. With
    `metric`, a step keeps only that metric's value (all hyperband reads)."""

    def __init__(self, metric: str | None = None) -> None:
        self.metric = metric
        self.final: dict[str, float] = {}
        self.steps: list[tuple[int, dict[str, float]]] = []
        self.consumed = 0  # bytes fed so far
        self._partial = b""

    def feed(self, chunk: bytes) -> None:
        self.consumed += len(chunk)
        data = self._partial + chunk
        end = data.rfind(b"\n")
        if end < 0:
            self._partial = data
        else:
            body = data[:end]
            if b"step=" in body:
                for line in body.split(b"\n"):
                    self._line(line)
            elif b"=" in body:  # no intermediate values: all the lines' pairs at once, in order
                self._pairs(body.decode("utf-8", "replace"))
            self._partial = data[end + 1 :]
        while len(self._partial) > MAX_LOG_LINE:
            # An endless line: parse its head up to the last whitespace, keep the rest.
            cut = max(self._partial.rfind(b" ", 0, MAX_LOG_LINE), self._partial.rfind(b"\t", 0, MAX_LOG_LINE))
            cut = cut if cut > 0 else MAX_LOG_LINE
            self._line(self._partial[:cut])
            self._partial = self._partial[cut:]

    def close(self) -> None:
        """The log ended: its last line, without a newline, counts too."""
        if self._partial:
            self._line(self._partial)
            self._partial = b""

    def result(self) -> tuple[dict[str, float], list[tuple[int, dict[str, float]]]]:
        """Final metrics and steps so far, the unfinished last line counted (it stays kept: a
        later chunk may continue it)."""
        if not self._partial:
            return self.final, self.steps
        ended = LogParser(self.metric)
        ended.final, ended.steps, ended._partial = dict(self.final), list(self.steps), self._partial
        ended.close()
        return ended.final, ended.steps

    def _line(self, raw: bytes) -> None:
        if b"=" not in raw:  # most lines of a long log: no pair to find
            return
        for line in raw.decode("utf-8", "replace").splitlines():  # a \r ends a line too
            self._pairs(line)

    def _pairs(self, line: str) -> None:
        pairs = parse_pairs(line)
        if not pairs:
            return
        step = pairs.pop("step", None)
        for name, value in pairs.items():
            if name in self.final or len(self.final) < MAX_LOG_NAMES or name == self.metric:
                self.final[name] = value
        if step is None or not pairs or len(self.steps) >= MAX_LOG_STEPS:
            return
        if self.metric is not None:
            if self.metric in pairs:
                self.steps.append((int(step), {self.metric: pairs[self.metric]}))
        else:
            self.steps.append((int(step), dict(itertools.islice(pairs.items(), MAX_STEP_NAMES))))


# ---------------------------------------------------------------------------------------------
# A run as observed.


@dataclass(frozen=True)
class Run:
    """A run as the reconcile sees it: from its Job and pods, or from status.recordedRuns."""

    name: str
    number: int
    parameters: Mapping[str, Any]
    state: RunState
    metrics: Mapping[str, float] = field(default_factory=dict)
    recorded: bool = False  # ended, its outcome known: in status.recordedRuns or on its Job
    record_on_job: bool = False  # the Job carries kubesweep.io/result
    exists: bool = True  # False once only status.recordedRuns remembers it (Job released or gone)
    stop_requested: bool = False  # annotated kubesweep.io/stop: "true"
    deleting: bool = False  # the Job has a deletionTimestamp (deleted by hand or by its TTL)
    suspended: bool = False
    pods_alive: bool = False  # pods not yet terminated and not being deleted
    # The Job controller is done with the Job: none of its pods alive or being deleted, and it
    # carries its outcome (a terminal condition, or our result). Writing to it earlier would race
    # the controller's status updates (a 409 costs the controller a 1 s backoff).
    settled: bool = True
    early_stopped: bool = False
    needs_log: bool = False  # finished without a termination message: metrics are in its log
    steps: Sequence[tuple[int, Mapping[str, float]]] = ()  # intermediate values, per step
    band_values: tuple[float, ...] | None = None  # hyperband: the metric at the bands it reached
    reason: str = ""
    # Suspended by someone else (a queue such as Kueue) before any pod of it existed.
    queued: bool = False
    has_pods: bool = False
    pod_failures: int = 0  # the Job's pods that failed so far (its status.failed)
    # Its pods still alive that no stop reached yet (see stop_job_patch): their names.
    unstopped_pods: tuple[str, ...] = ()
    # Its pods not terminated (being deleted or not), and those of them Pending: what a kill
    # deletes, by name (a pod is the run's when its Job owns it, which no label says).
    live_pods: tuple[str, ...] = ()
    pending_pods: tuple[str, ...] = ()
    exit_code: int | None = None  # the failed container's exit code
    message: str = ""  # why it failed, as the kubelet or the container said it
    # The Job says the run ended but its pod's terminated state has not reached us (Jobs and pods
    # come on separate watches): not recorded until it does, or until `deadline` (its pod gone).
    awaiting_pod: bool = False
    # Seconds since the epoch at which this run's observation changes without any event: the
    # wait for its pod's end, or for a pod that cannot start, runs out. The shell passes again then.
    deadline: float | None = None
    stuck: bool = False  # its pod could not start within START_TIMEOUT: to be stopped, Failed
    # Every pod of it deleted (being deleted, or gone): a cancel's kill, if the sweep is cancelled.
    pods_deleted: bool = False

    @property
    def active(self) -> bool:
        return self.state in api.ACTIVE_RUN_STATES


def _pod_terminated(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for status in pod.get("status", {}).get("containerStatuses") or []:
        terminated: Mapping[str, Any] | None = status.get("state", {}).get("terminated")
        if terminated:
            return terminated
    return None


def _attempt_order(pod: Mapping[str, Any]) -> tuple[int, str, str, str]:
    """Orders a Job's attempts (its retries, backoffLimit > 0): the successful attempt is the
    run's result; else one not yet ended is the newest; else the last to end, by its container's
    finishedAt (creation times have one-second resolution, and names are random suffixes)."""
    phase = _phase(pod)
    rank = 2 if phase == "Succeeded" else 0 if phase == "Failed" else 1
    terminated = _pod_terminated(pod) or {}
    created = pod.get("metadata", {}).get("creationTimestamp") or ""
    return rank, str(terminated.get("finishedAt") or created), created, pod["metadata"]["name"]


def latest_pod(pods: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The attempt whose outcome is the run's (see _attempt_order)."""
    if not pods:
        return None
    return max(pods, key=_attempt_order)


def disruption(pods: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """(reason, message) of a pod the cluster took away: a node drain or any eviction
    (EvictionByEvictionAPI), a taint (DeletionByTaintManager), preemption
    (PreemptionByScheduler), the kubelet (TerminationByKubelet), the pod GC: the condition
    DisruptionTarget True, which the API server or controller sets before the pod is deleted."""
    for pod in pods:
        for cond in pod.get("status", {}).get("conditions") or []:
            if cond.get("type") == "DisruptionTarget" and cond.get("status") == "True":
                message = str(cond.get("message") or "")[:MESSAGE_LIMIT]
                return str(cond.get("reason") or "DisruptionTarget"), message
    return None


def _crash_reason(pods: Sequence[Mapping[str, Any]]) -> str | None:
    """OOMKilled, evicted, disrupted or lost: the run crashed rather than failed on its own."""
    if (disrupted := disruption(pods)) is not None:
        return disrupted[0]
    for pod in pods:
        status = pod.get("status", {})
        if status.get("reason") in ("Evicted", "NodeLost", "UnexpectedAdmissionError"):
            return str(status["reason"])
        terminated = _pod_terminated(pod)
        if terminated and terminated.get("reason") in ("OOMKilled", "ContainerCannotRun", "DeadlineExceeded"):
            return str(terminated["reason"])
    return None


# A stopped run's pods get this spec.activeDeadlineSeconds: the kubelet then stops them with
# their grace period and keeps them (phase Failed, reason DeadlineExceeded), logs and all. 1 is
# the lowest value the API server takes, already past for any pod that ran a second, and the API
# server lets a pod's deadline only be lowered, never raised or removed, so no one undoes it.
STOP_DEADLINE = 1


def stopped_by_deadline(pod: Mapping[str, Any]) -> bool:
    return (pod.get("spec") or {}).get("activeDeadlineSeconds") == STOP_DEADLINE


def stop_job_patch(run: Run) -> dict[str, Any]:
    """The Job spec patch that ends a killed run for good, whatever else controls the Job.

    Not `suspend`: a queue (Kueue) owns it and sets it back to false on admission, and the Job
    controller deletes a suspended Job's pods, logs and all. A backoffLimit of the failures so far
    makes the Job Failed with the next one, so the stopped (or deleted) pod is its last: no
    replacement. A Job without pods (waiting in a queue, or not started yet) gets parallelism 0,
    so no pod is ever created, and activeDeadlineSeconds 1, so it ends Failed the moment it is
    admitted (its quota freed) instead of waiting forever. The API server takes all three on a
    running Job."""
    patch: dict[str, Any] = {"backoffLimit": run.pod_failures}
    if not run.has_pods:
        patch.update({"parallelism": 0, "activeDeadlineSeconds": STOP_DEADLINE})
    return patch


# Waiting reasons of a container that will not start by itself: past START_TIMEOUT seconds from
# its pod's creation the run is Failed with that reason and its pod deleted (not Pending forever).
CANNOT_START = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
START_TIMEOUT = 300.0
# How long a run whose Job says it ended waits for its pod's terminated state (its metrics and
# why it failed) before it is recorded without it: the pod may be gone for good (deleted, a TTL).
POD_VIEW_TIMEOUT = 15.0
MESSAGE_LIMIT = 512


def _seconds(timestamp: Any) -> float | None:
    """An RFC 3339 time as seconds since the epoch."""
    if not isinstance(timestamp, str) or not timestamp:
        return None
    try:
        return datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _waiting(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The state of a container that cannot start (CANNOT_START), if any."""
    for status in pod.get("status", {}).get("containerStatuses") or []:
        waiting: Mapping[str, Any] | None = status.get("state", {}).get("waiting")
        if waiting and waiting.get("reason") in CANNOT_START:
            return waiting
    return None


def failure(pods: Sequence[Mapping[str, Any]]) -> tuple[str, int | None, str]:
    """Why the latest pod that failed did: (reason, exit code, message), e.g. ("StartError",
    128, 'exec: "trian": executable file not found'), ("OOMKilled", 137, ""), ("Evicted", None, ...)."""
    failed = [p for p in pods if _phase(p) == "Failed"]
    pod = latest_pod(failed) or latest_pod(pods)
    if pod is None:
        return "", None, ""
    status = pod.get("status", {})
    terminated = _pod_terminated(pod)
    if status.get("reason"):  # the pod's own: Evicted, DeadlineExceeded, NodeLost, ...
        code = terminated.get("exitCode") if terminated else None
        return str(status["reason"]), code, str(status.get("message") or "")[:MESSAGE_LIMIT]
    if terminated:
        code = terminated.get("exitCode")
        reason = str(terminated.get("reason") or ("Error" if code else "Completed"))
        return reason, code, str(terminated.get("message") or "")[:MESSAGE_LIMIT]
    return "", None, ""


def _condition(job: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    cond: Mapping[str, Any]
    for cond in job.get("status", {}).get("conditions") or []:
        if cond.get("type") == kind and cond.get("status") == "True":
            return cond
    return None


def _phase(pod: Mapping[str, Any]) -> str:
    return str(pod.get("status", {}).get("phase") or "")


def _terminated(pod: Mapping[str, Any]) -> bool:
    return _phase(pod) in ("Succeeded", "Failed")


def _deleting(pod: Mapping[str, Any]) -> bool:
    return bool(pod.get("metadata", {}).get("deletionTimestamp"))


def pod_outcome(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> RunState | None:
    """The run's end as its pods tell it, before the Job says so: the Job controller marks a Job
    Complete (or Failed) about a second after its pod ended. None while the run may go on.

    Enough pods succeeded: Finished. More pods failed than backoffLimit allows (the Job's rule,
    so a failed pod followed by a retry is not an end): Failed, or Crashed (OOMKilled, evicted).
    With a podFailurePolicy or per-index limits only the Job can tell which failures count."""
    spec = job.get("spec") or {}
    if sum(1 for p in pods if _phase(p) == "Succeeded") >= int(spec.get("completions") or 1):
        return RunState.FINISHED
    if spec.get("podFailurePolicy") or spec.get("backoffLimitPerIndex") is not None:
        return None
    if spec.get("suspend"):
        # Suspended (by hand, or a queue preempting it): the Job controller deletes its pods and
        # counts none of them failed; the run waits to be resumed.
        return None
    if sum(1 for p in pods if _phase(p) == "Failed") > int(spec.get("backoffLimit") or 0):
        return RunState.CRASHED if _crash_reason(pods) else RunState.FAILED
    return None


def run_number(job: Mapping[str, Any]) -> int:
    annotations = job["metadata"].get("annotations") or {}
    try:
        return int(annotations[api.ANNOTATION_RUN_NUMBER])
    except (KeyError, ValueError):
        match = re.search(r"-(\d+)$", job["metadata"]["name"])
        return int(match.group(1)) if match else 0


def owner_uid(job: Mapping[str, Any]) -> str | None:
    """The uid of the Sweep that owns `job` (None: no Sweep does)."""
    for owner in job.get("metadata", {}).get("ownerReferences") or []:
        if owner.get("kind") == api.KIND and owner.get("apiVersion", "").startswith(api.GROUP + "/"):
            return str(owner.get("uid") or "") or None
    return None


def is_run_of(job: Mapping[str, Any], sweep_uid: str | None) -> bool:
    """Whether a Job found under a run's name (a create answered 409) is a run of this sweep still
    to be watched: owned by it and not yet released (a released one's record is the status's)."""
    labels = job.get("metadata", {}).get("labels") or {}
    return sweep_uid is not None and owner_uid(job) == sweep_uid and api.LABEL_RECORDED not in labels


def read_result(job: Mapping[str, Any]) -> dict[str, Any] | None:
    raw = (job["metadata"].get("annotations") or {}).get(api.ANNOTATION_RESULT)
    if not raw:
        return None
    try:
        result = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return result if isinstance(result, dict) and result.get("state") in set(RunState) else None


def read_parameters(job: Mapping[str, Any]) -> dict[str, Any]:
    raw = (job["metadata"].get("annotations") or {}).get(api.ANNOTATION_PARAMETERS, "{}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def observe(
    job: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    log: str | LogParser | None = None,
    *,
    now: float | None = None,
    start_timeout: float = START_TIMEOUT,
) -> Run:
    """A run's state and metrics from its Job and its pods (and its log, where read), at `now`
    (seconds since the epoch; the bounds on waiting for a pod are measured against it).

    A run is recorded only from a complete view of how it ended: its pod terminated (or gone,
    POD_VIEW_TIMEOUT after its Job ended)."""
    meta = job["metadata"]
    annotations = meta.get("annotations") or {}
    not_terminated = [p for p in pods if not _terminated(p)]
    pods_alive = any(not _deleting(p) for p in not_terminated)
    # (A pod gone, remembered as it ended (the shell's "gone"), keeps the Job controller busy no more.)
    pods_busy = bool(not_terminated) or any(_deleting(p) and not p.get("gone") for p in pods)
    result = read_result(job)
    job_ended = _condition(job, "Complete") or _condition(job, "Failed")
    unstopped = tuple(
        p["metadata"]["name"] for p in not_terminated if not _deleting(p) and not stopped_by_deadline(p)
    )
    live = tuple(p["metadata"]["name"] for p in not_terminated)
    common: dict[str, Any] = {
        "live_pods": live,
        "pending_pods": tuple(p["metadata"]["name"] for p in pods if _phase(p) == "Pending"),
        "name": meta["name"],
        "number": run_number(job),
        "parameters": read_parameters(job),
        "stop_requested": annotations.get(api.ANNOTATION_STOP, "").lower() == "true",
        "deleting": bool(meta.get("deletionTimestamp")),
        "suspended": bool(job.get("spec", {}).get("suspend")),
        "pods_alive": pods_alive,
        # A killed run's Job is done with once its pods are: without pods it never starts one
        # (stop_job_patch); with pods, once the Job controller marked it Failed.
        "settled": not pods_busy and (job_ended is not None or (result is not None and not pods)),
        "has_pods": bool(pods),
        "pod_failures": int((job.get("status") or {}).get("failed") or 0),
        "unstopped_pods": unstopped,
        "pods_deleted": all(_deleting(p) for p in pods),
    }
    steps: list[tuple[int, dict[str, float]]] = []
    log_metrics: dict[str, float] = {}
    if log is not None:
        log_metrics, steps = parse_log(log) if isinstance(log, str) else log.result()
    common["steps"] = tuple(steps)

    if result is not None:
        metrics = {k: float(v) for k, v in (result.get("metrics") or {}).items() if _to_float(v) is not None}
        bands = result.get("bands")
        return Run(
            state=RunState(result["state"]),
            metrics=metrics,
            recorded=True,
            record_on_job=True,
            band_values=tuple(v for v in map(_to_float, bands) if v is not None)
            if isinstance(bands, list)
            else None,
            early_stopped=bool(result.get("earlyStopped")),
            reason=str(result.get("reason", "")),
            exit_code=result["exitCode"] if isinstance(result.get("exitCode"), int) else None,
            message=str(result.get("message", "")),
            **common,
        )

    current = time.time() if now is None else now
    latest = latest_pod(pods)
    terminated = _pod_terminated(latest) if latest else None
    message_metrics = parse_termination_message(terminated.get("message") if terminated else None)
    metrics = message_metrics or log_metrics
    ended: dict[str, Any] = {"metrics": metrics, "needs_log": not message_metrics and log is None}

    # Its pods stopped by the operator (STOP_DEADLINE) whose result the Job does not show (the
    # pods' watch ran ahead of the Jobs'): a kill, never a failure of the run. Before the wait
    # for a pod's end below: a stopped pod has ended, so the view is complete.
    if any(_phase(p) == "Failed" and stopped_by_deadline(p) for p in pods):
        return Run(state=RunState.KILLED, reason="Stopped", **ended, **common)

    if job_ended is not None and (latest is None or not _terminated(latest)):
        # The Job controller has marked the run's end, but its pod's end (the termination
        # message with its metrics, the exit code) has not reached us yet: the pod watch lags
        # the Job watch. Wait for it, a bounded time (the pod may be gone for good).
        since = _seconds(job_ended.get("lastTransitionTime"))
        deadline = (since if since is not None else current) + POD_VIEW_TIMEOUT
        if current < deadline:
            state = RunState.FINISHED if _condition(job, "Complete") else RunState.FAILED
            return Run(state=state, awaiting_pod=True, deadline=deadline, **common)
        ended["needs_log"] = ended["needs_log"] and latest is not None

    def failed_run(state: RunState, job_reason: str = "") -> Run:
        reason, code, message = failure(pods)
        crash = _crash_reason(pods)
        if crash:
            state, reason = RunState.CRASHED, reason or crash
        last_failed = latest_pod([p for p in pods if _phase(p) == "Failed"])
        if last_failed is not None and (disrupted := disruption([last_failed])) is not None:
            # Its last pod was taken away (its container's reason is only the signal that stopped it).
            reason, message = disrupted
            job_reason = ""
        # The Job's own reason where it says more than its pods (DeadlineExceeded: it killed them).
        if (job_reason and job_reason != "BackoffLimitExceeded") or not reason:
            reason = job_reason or reason or "Failed"
        return Run(state=state, reason=reason, exit_code=code, message=message, **ended, **common)

    if _condition(job, "Complete"):
        return Run(state=RunState.FINISHED, reason="Completed", **ended, **common)
    if failed := _condition(job, "Failed"):
        return failed_run(RunState.FAILED, str(failed.get("reason") or ""))
    # The pods may know before the Job does: a run that ended is never taken for an active one
    # (a cancel in that second would record a run that exited 0 as Killed, without metrics).
    outcome = pod_outcome(job, pods)
    if outcome == RunState.FINISHED:
        return Run(state=outcome, reason="Completed", **ended, **common)
    if outcome is not None:
        return failed_run(outcome)
    running = any(_phase(p) == "Running" and not _deleting(p) for p in pods)
    waiting = _waiting(latest) if latest is not None and not running else None
    if waiting is not None and latest is not None:
        # A pod that cannot start (a wrong image, a missing Secret) is a failed run past a bound.
        created = _seconds(latest.get("metadata", {}).get("creationTimestamp"))
        deadline = (created if created is not None else current) + start_timeout
        if current >= deadline:
            return Run(
                state=RunState.FAILED,
                reason=str(waiting.get("reason")),
                message=str(waiting.get("message") or "")[:MESSAGE_LIMIT],
                stuck=True,
                metrics=metrics,
                **common,
            )
        common["deadline"] = deadline
    state = RunState.RUNNING if running else RunState.PENDING
    # Suspended with no pod executing (none made yet, or its pods deleted by the suspend): waiting.
    return Run(state=state, metrics=metrics, queued=common["suspended"] and not live, **common)


def metric_steps(
    run_steps: Iterable[tuple[int, Mapping[str, float]]], metric: str
) -> tuple[tuple[int, float], ...]:
    """The intermediate values of one metric."""
    return tuple((step, values[metric]) for step, values in run_steps if metric in values)


# What a record keeps of a run's metrics: the sweep's metric and the first MAX_OTHER_METRICS
# others it reported, with names up to MAX_METRIC_NAME characters. A run may print thousands of
# names; the status keeps 500 records and must stay far below etcd's 1.5 MB.
MAX_OTHER_METRICS = 10
MAX_METRIC_NAME = 48


def bounded_metrics(metrics: Mapping[str, float], metric: str | None) -> dict[str, float]:
    """The metrics a run's record keeps: `metric` (the sweep's) first, then the first others."""
    kept = {metric: metrics[metric]} if metric is not None and metric in metrics else {}
    others = (k for k in metrics if k != metric and len(k) <= MAX_METRIC_NAME)
    for name in itertools.islice(others, MAX_OTHER_METRICS):
        kept[name] = metrics[name]
    return kept


def why(run: Run) -> dict[str, Any]:
    """How a run ended, as its records keep it: reason, exit code and message, where known."""
    found: dict[str, Any] = {}
    if run.reason:
        found["reason"] = run.reason
    if run.exit_code is not None:
        found["exitCode"] = run.exit_code
    if run.message:
        found["message"] = run.message
    return found


def result_annotation(run: Run) -> str:
    result: dict[str, Any] = {"state": str(run.state), "metrics": dict(run.metrics), **why(run)}
    if run.early_stopped:
        result["earlyStopped"] = True
    if run.band_values is not None:
        result["bands"] = list(run.band_values)
    return json.dumps(result, separators=(",", ":"), sort_keys=True)
