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
