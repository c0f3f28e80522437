"""Hostile and unlucky input (issue 14): names, keys and values that looked like something else."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from kubesweep import api, cluster, reconcile, runs, search
from kubesweep.sandbox.kubelet import expand

# Kubernetes' rule for object names (DNS subdomains) and for label values.
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


# Item 4: parameter keys are verbatim; only a nested `parameters:` block nests.
SPACES: list[dict[str, Any]] = [
    {"a": {"value": 1}, "a.b": {"value": 2}},
    {"a.b": {"value": 1}, "a": {"parameters": {"b": {"value": 2}}}},
    {"optimizer.lr": {"values": [0.1]}, "optimizer": {"parameters": {"momentum": {"value": 0.9}}}},
]
EXPECTED: list[dict[str, Any]] = [
    {"a": 1, "a.b": 2},
    {"a.b": 1, "a": {"b": 2}},
    {"optimizer.lr": 0.1, "optimizer": {"momentum": 0.9}},
]


@pytest.mark.parametrize("method", ["grid", "random", "bayes"])
@pytest.mark.parametrize(("space", "expected"), list(zip(SPACES, EXPECTED, strict=True)))
def test_dotted_parameter_names_are_plain_names(
    method: str, space: dict[str, Any], expected: dict[str, Any]
) -> None:
    suggested = search.suggest(method, space, [], seed=1, run_number=1, goal="minimize")
    assert suggested == expected


def test_a_dotted_name_reaches_the_run_as_written() -> None:
    parameters = search.suggest(
        "grid", {"optimizer.lr": {"values": [0.1]}}, [], seed=1, run_number=1, goal="minimize"
    )
    assert parameters is not None
    assert runs.expand_args(["${args}"], parameters) == ["--optimizer.lr=0.1"]
    assert runs.expand_string("${params.optimizer.lr}", parameters) == "0.1"


def test_a_grid_counts_a_dotted_name_and_a_nested_one_apart() -> None:
    space = {"a.b": {"values": [1, 2]}, "a": {"parameters": {"b": {"values": [3, 4]}}}}
    used: list[dict[str, Any]] = []
    while (
        point := search.suggest(
            "grid",
            space,
            [search.Trial(i + 1, p, "Finished") for i, p in enumerate(used)],
            seed=1,
            run_number=len(used) + 1,
            goal="minimize",
        )
    ) is not None:
        used.append(point)
    assert sorted((p["a.b"], p["a"]["b"]) for p in used) == [(1, 3), (1, 4), (2, 3), (2, 4)]
    assert search.grid_positions(space, used) == [0, 1, 2, 3]


# Item 8: Kubernetes expands $(VAR) in command, args and env; a parameter value is not a reference.
@pytest.mark.parametrize("value", ["$(HOME)", "$$(HOME)", "a$$b", "$", "cost$", "$x"])
def test_parameter_values_reach_the_run_verbatim(value: str) -> None:
    env = {"HOME": "/root"}
    parameters = {"path": value}
    assert [expand(a, env) for a in runs.expand_args(["${args}"], parameters)] == [f"--path={value}"]
    assert expand(runs.expand_string("x=${params.path}", parameters), env) == f"x={value}"
    assert expand(runs.expand_string("${args_json}", parameters), env) == json.dumps(
        {"path": value}, separators=(",", ":")
    )
    # The template's own references still expand.
    assert expand(runs.expand_string("$(HOME)/${params.path}", parameters), env) == f"/root/{value}"


def test_the_parameters_env_var_holds_values_verbatim() -> None:
    sweep = {
        "metadata": {"name": "s", "namespace": "ml", "uid": "u"},
        "spec": {"template": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}},
    }
    job = runs.render_job(sweep, 1, {"p": "$(HOME)"})
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert expand(env["KUBESWEEP_PARAMETERS"], {"HOME": "/root"}) == '{"p":"$(HOME)"}'


# Item 11: a long name's label value is no other sweep's name.
def test_a_shortened_label_value_is_no_sweep_name() -> None:
    long = "a" * 70
    value = runs.label_value(long)
    assert len(value) <= 63 and LABEL_VALUE.match(value)
    assert not DNS_SUBDOMAIN.match(value), "a sweep could be named so"
    assert runs.label_value(value) != value or not DNS_SUBDOMAIN.match(value)
    assert runs.label_value("lr-search") == "lr-search"  # the README's kubesweep.io/sweep=<sweep>
    assert runs.label_value("b" * 63) == "b" * 63


# Item 12: an Event's name is a valid object name for any sweep name.
@pytest.mark.parametrize("length", [1, 200, 240, 241, 253])
def test_event_names_are_valid_for_any_sweep_name(length: int) -> None:
    for name in (
        "a" * length,
        ("a-" * length)[:length].rstrip("-") or "a",
        ("a." * length)[: length - 1] + "b",
    ):
        event = cluster.event_name(name, "0123456789ab")
        assert len(event) <= 253 and DNS_SUBDOMAIN.match(event), event
        assert event.endswith(".0123456789ab")
    assert cluster.event_name("x" * 253, "1") != cluster.event_name("x" * 252 + "y", "1")
    assert cluster.event_name("lr-search", "0123456789ab") == "lr-search.0123456789ab"


# Item 1: a run's name that another object holds is not this sweep's run.
def _sweep() -> dict[str, Any]:
    return {
        "metadata": {"name": "s", "namespace": "ns", "uid": "new", "generation": 1},
        "spec": {
            "method": "grid",
            "parameters": {"a": {"values": [1, 2]}},
            "parallelism": 2,
            "template": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}},
        },
    }


def test_run_names_another_object_holds_are_skipped() -> None:
    decision = reconcile.decide(_sweep(), [], now="2026-11-24T12:00:00Z", taken={"s-0001", "s-0003"})
    creations = decision.of(reconcile.CreateRun)
    assert [(c.number, c.job["metadata"]["name"]) for c in creations] == [(2, "s-0002"), (4, "s-0004")]
    assert [dict(c.parameters) for c in creations] == [{"a": 1}, {"a": 2}]


def _job(owner_uid: str | None, **labels: str) -> dict[str, Any]:
    owners = [{"apiVersion": api.API_VERSION, "kind": api.KIND, "name": "s", "uid": owner_uid}]
    return {"metadata": {"name": "s-0001", "labels": labels, "ownerReferences": owners if owner_uid else []}}


def test_a_job_under_a_runs_name_is_its_run_only_if_the_sweep_owns_it_and_watches_it() -> None:
    assert runs.is_run_of(_job("new"), "new")
    assert not runs.is_run_of(_job("old"), "new")  # an earlier sweep of the same name
    assert not runs.is_run_of(_job(None), "new")  # anyone's Job
    assert not runs.is_run_of(_job("new", **{api.LABEL_RECORDED: "true"}), "new")  # released


# Item 2: the state and the run-level controls need no valid search space.
def _invalid(state: str = "running") -> dict[str, Any]:
    sweep = _sweep()
    # `values` beside `min`/`max`: no CEL rule of the CRD sees it; the spec does not parse.
    sweep["spec"]["parameters"] = {"a": {"values": [1, 2], "min": 0, "max": 1}}
    sweep["spec"]["state"] = state
    return sweep


def _active(number: int, **kw: Any) -> runs.Run:
    name = f"s-{number:04d}"
    return runs.Run(name=name, number=number, parameters={"a": 1}, state=api.RunState.RUNNING, **kw)


def test_an_invalid_spec_still_cancels() -> None:
    with pytest.raises(reconcile.InvalidSweep):
        reconcile.parse_spec(_invalid()["spec"])
    running = _active(1, has_pods=True, pods_alive=True, live_pods=("s-0001-x",))
    decision = reconcile.decide(_invalid("cancelled"), [running], now="2026-11-24T12:00:00Z")
    assert decision.phase == api.Phase.CANCELLED
    assert [d.field_selector.split(",")[0] for d in decision.of(reconcile.DeletePods)] == [
        "metadata.name=s-0001-x"
    ]
    (record,) = decision.of(reconcile.RecordRun)
    assert '"state":"Killed"' in record.result
    assert not decision.of(reconcile.CreateRun)


def test_an_invalid_spec_still_stops_a_run_and_lets_a_deleted_job_go() -> None:
    stopped = _active(1, stop_requested=True, has_pods=True, pods_alive=True, unstopped_pods=("s-0001-x",))
    deleted = _active(2, deleting=True)
    decision = reconcile.decide(_invalid(), [stopped, deleted], now="2026-11-24T12:00:00Z")
    assert decision.phase == api.Phase.CRASHED
    assert decision.status["conditions"][0]["reason"] == reconcile.INVALID_SPEC
    assert [r.name for r in decision.of(reconcile.RecordRun)] == ["s-0001", "s-0002"]
    assert decision.of(reconcile.StopPods) == [reconcile.StopPods(("s-0001-x",))]
    # Next pass: the deleted Job's run is recorded Killed on it, and its Job is let go.
    killed = runs.Run(
        name="s-0002", number=2, parameters={"a": 1}, state=api.RunState.KILLED,
        stage=runs.Stage.ON_JOB, deleting=True,
    )  # fmt: skip
    decision = reconcile.decide(_invalid(), [killed], now="2026-11-24T12:00:00Z")
    assert [r.name for r in decision.of(reconcile.ReleaseJob)] == ["s-0002"]


def test_an_invalid_spec_records_a_run_that_ended() -> None:
    ended = runs.Run(name="s-0001", number=1, parameters={"a": 1}, state=api.RunState.FINISHED)
    decision = reconcile.decide(_invalid(), [ended], now="2026-11-24T12:00:00Z")
    assert [r["name"] for r in decision.status["recordedRuns"]] == ["s-0001"]


# Item 5: the operator's own keys in a template (copied from a run's Job) reach no run.
def _with_reserved() -> dict[str, Any]:
    sweep = _sweep()
    template = sweep["spec"]["template"]
    template["metadata"] = {
        "labels": {api.LABEL_RECORDED: "true", "team": "a", api.LABEL_RUN: "s-0009"},
        "annotations": {api.ANNOTATION_RESULT: '{"state":"Finished"}', api.ANNOTATION_STOP: "true", "x": "y"},
    }
    template["spec"]["template"]["metadata"] = {
        "labels": {api.LABEL_RECORDED: "true", "app": "b"},
        "annotations": {api.ANNOTATION_STOP: "true", "z": "w"},
    }
    return sweep


def test_reserved_keys_in_the_template_are_left_out_of_the_job() -> None:
    job = runs.render_job(_with_reserved(), 1, {"a": 1})
    meta, pod_meta = job["metadata"], job["spec"]["template"]["metadata"]
    ours = {k for m in (meta, pod_meta) for k in [*m["labels"], *(m.get("annotations") or {})]}
    assert {k for k in ours if k.startswith("kubesweep.io/")} == {
        api.LABEL_SWEEP, api.LABEL_RUN, api.ANNOTATION_PARAMETERS, api.ANNOTATION_RUN_NUMBER,
    }  # fmt: skip
    assert meta["labels"][api.LABEL_RUN] == "s-0001"
    assert (meta["labels"]["team"], meta["annotations"]["x"]) == ("a", "y")
    assert (pod_meta["labels"]["app"], pod_meta["annotations"]["z"]) == ("b", "w")
    run = runs.observe(job, [])
    assert run.state == api.RunState.PENDING and not run.recorded and not run.stop_requested


def test_reserved_keys_in_the_template_are_named_once_in_a_warning() -> None:
    sweep = _with_reserved()
    decision = reconcile.decide(sweep, [], now="2026-11-24T12:00:00Z")
    (warning,) = [e for e in decision.of(reconcile.Event) if e.reason == reconcile.RESERVED_KEYS_IGNORED]
    assert warning.type == "Warning"
    for key in (api.LABEL_RECORDED, api.ANNOTATION_RESULT, api.ANNOTATION_STOP):
        assert key in warning.message
    sweep["status"] = decision.status  # the next pass of the same spec says it no more
    again = reconcile.decide(sweep, [], now="2026-11-24T12:00:00Z")
    assert not [e for e in again.of(reconcile.Event) if e.reason == reconcile.RESERVED_KEYS_IGNORED]
    assert not [e for e in reconcile.decide(_sweep(), [], now="2026-11-24T12:00:00Z").of(reconcile.Event)
                if e.reason == reconcile.RESERVED_KEYS_IGNORED]  # fmt: skip


def test_the_operators_environment_variables_in_the_template_are_left_out_and_named() -> None:
    sweep = _sweep()
    (container,) = sweep["spec"]["template"]["spec"]["template"]["spec"]["containers"]
    container["env"] = [
        {"name": "KUBESWEEP_RUN", "value": "forged"},
        {"name": "KUBESWEEP_PARAMETERS", "value": '{"a": 99}'},
        {"name": "MINE", "value": "$(KUBESWEEP_RUN)"},
    ]
    job = runs.render_job(sweep, 1, {"a": 1})
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [
        {"name": "KUBESWEEP_SWEEP", "value": "s"},
        {"name": "KUBESWEEP_RUN", "value": "s-0001"},
        {"name": "KUBESWEEP_PARAMETERS", "value": '{"a":1}'},
        {"name": "MINE", "value": "$(KUBESWEEP_RUN)"},
    ]
    decision = reconcile.decide(sweep, [], now="2026-11-24T12:00:00Z")
    (warning,) = [e for e in decision.of(reconcile.Event) if e.reason == reconcile.RESERVED_KEYS_IGNORED]
    assert "spec.template.spec.containers[c].env[KUBESWEEP_RUN]" in warning.message
    assert "env[KUBESWEEP_PARAMETERS]" in warning.message and "MINE" not in warning.message


# Item 6: a kill reaches the sweep's own pods only, each by name (no label says a pod is owned).
def test_cancel_deletes_each_owned_pod_by_name_never_by_the_sweeps_label() -> None:
    sweep = _sweep()
    sweep["spec"]["state"] = "cancelled"
    running = _active(1, has_pods=True, pods_alive=True, live_pods=("s-0001-a", "s-0001-b"))
    deletes = reconcile.decide(sweep, [running], now="2026-11-24T12:00:00Z").of(reconcile.DeletePods)
    assert sorted(d.field_selector.split(",")[0] for d in deletes) == [
        "metadata.name=s-0001-a",
        "metadata.name=s-0001-b",
    ]
    assert all(d.field_selector.endswith(reconcile.ALIVE_PODS) for d in deletes)
    assert not any(api.LABEL_SWEEP in d.label_selector for d in deletes)


def test_a_job_without_an_owner_is_no_run_of_the_sweep() -> None:
    from kubesweep.housekeeping import owned_by

    sweep = _sweep()
    assert owned_by({"metadata": {"ownerUid": "new"}}, sweep)
    assert not owned_by({"metadata": {"ownerUid": "old"}}, sweep)
    assert not owned_by({"metadata": {}}, sweep)  # anyone's Job with a run's labels
