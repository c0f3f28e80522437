"""A corpus of malformed Sweeps: each is refused by the schema naming the field, or ends with a
condition naming the field; the operator's other sweeps are unaffected and it logs no traceback."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from kubesweep import api, runs

from .conftest import Kube, Operator, python_run, wait_for

pytestmark = pytest.mark.integration

VALID: dict[str, Any] = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"a": {"values": [1, 2]}},
    "template": python_run("print('loss=1')"),
}


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = spec["template"]["spec"]["template"]["spec"]["containers"]
    return result


def pod_spec(spec: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = spec["template"]["spec"]["template"]["spec"]
    return result


@dataclass(frozen=True)
class Case:
    id: str
    change: Callable[[dict[str, Any]], object]
    field: str  # what the error or the condition must name
    by: str  # "schema" (refused at create) or "operator" (a condition)
    words: str = ""  # what the message must say, for a person to act on


def setting(**values: Any) -> Callable[[dict[str, Any]], None]:
    def apply(spec: dict[str, Any]) -> None:
        spec.update(values)

    return apply


def parameter(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(spec: dict[str, Any]) -> None:
        spec["parameters"] = {name: value}

    return apply


def removing(key: str) -> Callable[[dict[str, Any]], None]:
    def apply(spec: dict[str, Any]) -> None:
        del spec[key]

    return apply


def in_pod(**values: Any) -> Callable[[dict[str, Any]], None]:
    def apply(spec: dict[str, Any]) -> None:
        pod_spec(spec).update(values)

    return apply


def in_container(**values: Any) -> Callable[[dict[str, Any]], None]:
    def apply(spec: dict[str, Any]) -> None:
        containers(spec)[0].update(values)

    return apply


def without_container_key(key: str) -> Callable[[dict[str, Any]], None]:
    def apply(spec: dict[str, Any]) -> None:
        del containers(spec)[0][key]

    return apply


SCHEMA = "schema"
OPERATOR = "operator"

CASES = [
    # Wrong types and values of the top-level fields.
    Case("state-unknown", setting(state="paused-ish"), "spec.state", SCHEMA),
    Case("state-number", setting(state=1), "spec.state", SCHEMA),
    Case("parallelism-negative", setting(parallelism=-1), "spec.parallelism", SCHEMA),
    Case("parallelism-zero", setting(parallelism=0), "spec.parallelism", SCHEMA),
    Case("parallelism-string", setting(parallelism="two"), "spec.parallelism", SCHEMA),
    Case("parallelism-huge", setting(parallelism=10**9), "spec.parallelism", SCHEMA),
    Case("parallelism-float", setting(parallelism=1.5), "spec.parallelism", SCHEMA),
    Case("method-unknown", setting(method="hill-climb"), "spec.method", SCHEMA),
    Case("method-missing", removing("method"), "spec.method", SCHEMA),
    Case("parameters-missing", removing("parameters"), "spec.parameters", SCHEMA),
    Case("parameters-list", setting(parameters=[{"a": 1}]), "spec.parameters", SCHEMA),
    Case("parameter-not-an-object", parameter("lr", "0.1"), "spec.parameters.lr", SCHEMA),
    Case("values-empty", parameter("lr", {"values": []}), "spec.parameters.lr.values", SCHEMA),
    Case("values-not-a-list", parameter("lr", {"values": 3}), "spec.parameters.lr.values", SCHEMA),
    Case("distribution-unknown", parameter("lr", {"distribution": "gaussian"}), "distribution", SCHEMA),
    Case("min-string", parameter("lr", {"min": "low", "max": 1}), "spec.parameters.lr.min", SCHEMA),
    Case(
        "probability-above-one",
        parameter("o", {"values": [1], "probabilities": [1.5]}),
        "probabilities",
        SCHEMA,
    ),
    Case("metric-without-name", setting(metric={"goal": "minimize"}), "spec.metric.name", SCHEMA),
    Case(
        "metric-goal-unknown", setting(metric={"name": "loss", "goal": "lowest"}), "spec.metric.goal", SCHEMA
    ),
    Case(
        "metric-target-string", setting(metric={"name": "l", "target": "low"}), "spec.metric.target", SCHEMA
    ),
    Case("runcap-zero", setting(runCap=0), "spec.runCap", SCHEMA),
    Case("runcap-negative", setting(runCap=-5), "spec.runCap", SCHEMA),
    Case("runcap-float", setting(runCap=1e30), "spec.runCap", SCHEMA),
    Case("maxfailedruns-zero", setting(maxFailedRuns=0), "spec.maxFailedRuns", SCHEMA),
    Case(
        "maxretries-negative", setting(maxRetries=-1), "spec.maxRetries", SCHEMA, "greater than or equal to 0"
    ),
    Case(
        "maxretries-above-100",
        setting(maxRetries=101),
        "spec.maxRetries",
        SCHEMA,
        "less than or equal to 100",
    ),
    Case("maxretries-string", setting(maxRetries="3"), "spec.maxRetries", SCHEMA, "integer"),
    Case("seed-negative", setting(seed=-1), "spec.seed", SCHEMA),
    Case(
        "early-terminate-unknown-type",
        setting(earlyTerminate={"type": "bohb", "minIter": 3}),
        "spec.earlyTerminate.type",
        SCHEMA,
    ),
    Case(
        "median-without-min-iter",
        setting(earlyTerminate={"type": "median"}),
        "spec.earlyTerminate.minIter",
        SCHEMA,
        "asha and median need minIter",
    ),
    Case(
        "asha-with-s",
        setting(earlyTerminate={"type": "asha", "minIter": 1, "s": 2}),
        "spec.earlyTerminate.s",
        SCHEMA,
        "s is hyperband's",
    ),
    Case(
        "early-terminate-eta-one",
        setting(earlyTerminate={"type": "hyperband", "eta": 1}),
        "spec.earlyTerminate.eta",
        SCHEMA,
    ),
    Case("template-missing", removing("template"), "spec.template", SCHEMA),
    Case("template-without-spec", setting(template={"metadata": {}}), "spec.template.spec", SCHEMA),
    Case("no-containers", in_pod(containers=[]), "spec.template.spec.template.spec.containers", SCHEMA),
    Case(
        "container-not-an-object",
        in_pod(containers=["python"]),
        "spec.template.spec.template.spec.containers[0]",
        SCHEMA,
    ),
    Case(
        "container-without-name",
        without_container_key("name"),
        "spec.template.spec.template.spec.containers[0].name",
        SCHEMA,
    ),
    Case(
        "template-label-number",
        setting(template={**python_run("1"), "metadata": {"labels": {"team": 7}}}),
        "spec.template.metadata.labels.team",
        SCHEMA,
    ),
    # W&B's own snake_case keys, as kubectl sends them (strict field validation).
    Case("wandb-run-cap", setting(run_cap=5), "run_cap", SCHEMA),
    Case(
        "wandb-early-terminate",
        setting(early_terminate={"type": "hyperband", "min_iter": 3}),
        "early_terminate",
        SCHEMA,
    ),
    Case("wandb-min-iter", setting(earlyTerminate={"type": "hyperband", "min_iter": 3}), "min_iter", SCHEMA),
    # Refused by the CRD's CEL rules (a map entry is named `spec.parameters[lr]`, as the API
    # server names it), with a message that says what to do.
    Case(
        "grid-over-a-range",
        parameter("lr", {"min": 0.1, "max": 1.0}),
        "spec.parameters",
        SCHEMA,
        "lr is not: give it values, or use method random or bayes",
    ),
    Case(
        "grid-over-normal",
        parameter("lr", {"distribution": "normal", "mu": 0, "sigma": 1}),
        "spec.parameters",
        SCHEMA,
        "a grid sweep can only use values, value, int_uniform or q_uniform",
    ),
    Case(
        "grid-over-a-nested-range",
        parameter("opt", {"parameters": {"lr": {"distribution": "uniform", "min": 0, "max": 1}}}),
        "spec.parameters",
        SCHEMA,
        "opt is not",
    ),
    Case(
        "grid-with-probabilities",
        parameter("o", {"values": [1, 2], "probabilities": [0.5, 0.5]}),
        "spec.parameters",
        SCHEMA,
        "probabilities do not apply",
    ),
    Case(
        "deprecated-log-uniform",
        parameter("lr", {"distribution": "log_uniform", "min": -5, "max": 0}),
        "spec.parameters[lr].distribution",
        SCHEMA,
        "use log_uniform_values",
    ),
    Case(
        "deprecated-inv-log-uniform",
        parameter("lr", {"distribution": "inv_log_uniform", "min": 0, "max": 5}),
        "spec.parameters[lr].distribution",
        SCHEMA,
        "use inv_log_uniform_values",
    ),
    Case(
        "min-above-max",
        parameter("n", {"distribution": "int_uniform", "min": 9, "max": 1}),
        "spec.parameters[n].max",
        SCHEMA,
        "max must be above min",
    ),
    Case(
        "nested-min-above-max",
        lambda s: s.update(
            method="random", parameters={"g": {"parameters": {"lr": {"min": 1.5, "max": 0.5}}}}
        ),
        "spec.parameters[g].parameters[lr].max",
        SCHEMA,
        "max must be above min",
    ),
    Case(
        "uniform-min-equals-max",
        lambda s: s.update(
            method="random", parameters={"lr": {"distribution": "uniform", "min": 1, "max": 1}}
        ),
        "spec.parameters[lr].max",
        SCHEMA,
        "int_uniform",
    ),
    Case(
        "int-uniform-fraction",
        lambda s: s.update(
            method="random", parameters={"n": {"distribution": "int_uniform", "min": 0.5, "max": 4}}
        ),
        "spec.parameters[n].min",
        SCHEMA,
        "integer min and max",
    ),
    Case(
        "uniform-without-max",
        lambda s: s.update(method="random", parameters={"lr": {"distribution": "uniform", "min": 0}}),
        "spec.parameters[lr]",
        SCHEMA,
        "max is missing",
    ),
    Case(
        "log-uniform-values-from-zero",
        lambda s: s.update(
            method="random", parameters={"lr": {"distribution": "log_uniform_values", "min": 0, "max": 1}}
        ),
        "spec.parameters[lr].min",
        SCHEMA,
        "min above 0",
    ),
    Case(
        "q-zero",
        lambda s: s.update(
            method="random", parameters={"x": {"distribution": "q_uniform", "min": 0, "max": 4, "q": 0}}
        ),
        "spec.parameters.x.q",
        SCHEMA,
        "greater than 0",
    ),
    Case(
        "sigma-negative",
        lambda s: s.update(method="random", parameters={"x": {"distribution": "normal", "sigma": -1}}),
        "spec.parameters.x.sigma",
        SCHEMA,
        "greater than 0",
    ),
    Case(
        "normal-with-a-range",
        lambda s: s.update(method="random", parameters={"x": {"distribution": "normal", "min": 0, "max": 1}}),
        "spec.parameters[x]",
        SCHEMA,
        "a normal parameter, which takes only mu, sigma",
    ),
    Case(
        "q-without-its-distribution",
        lambda s: s.update(method="random", parameters={"x": {"min": 0, "max": 10, "q": 2}}),
        "spec.parameters[x]",
        SCHEMA,
        "write the distribution",
    ),
    Case(
        "nested-beside-a-value",
        lambda s: s.update(
            method="random", parameters={"g": {"distribution": "uniform", "parameters": {"a": {"value": 1}}}}
        ),
        "spec.parameters[g]",
        SCHEMA,
        "nested parameters stand alone",
    ),
    Case(
        "bayes-without-metric",
        lambda s: (s.update(method="bayes"), s.pop("metric")),
        "spec.metric",
        SCHEMA,
        "bayes search needs a metric",
    ),
    Case(
        "hyperband-without-metric",
        lambda s: (s.update(earlyTerminate={"type": "hyperband", "minIter": 3}), s.pop("metric")),
        "spec.metric",
        SCHEMA,
        "earlyTerminate needs a single metric",
    ),
    Case(
        "metric-beside-metrics",
        setting(metrics=[{"name": "loss"}, {"name": "cost"}]),
        "spec.metrics",
        SCHEMA,
        "give metric (one objective) or metrics (several), not both",
    ),
    Case(
        "one-objective-in-metrics",
        lambda s: (s.update(metrics=[{"name": "loss"}]), s.pop("metric")),
        "spec.metrics",
        SCHEMA,
    ),
    Case(
        "the-same-objective-twice",
        lambda s: (
            s.update(metrics=[{"name": "loss"}, {"name": "loss", "goal": "maximize"}]),
            s.pop("metric"),
        ),
        "spec.metrics",
        SCHEMA,
        "each of metrics names a different metric",
    ),
    Case(
        "cmaes-with-metrics",
        lambda s: (
            s.update(
                method="cmaes",
                parameters={"a": {"distribution": "uniform", "min": 0, "max": 1}},
                metrics=[{"name": "loss"}, {"name": "cost"}],
            ),
            s.pop("metric"),
        ),
        "spec.method",
        SCHEMA,
        "cmaes optimizes a single metric",
    ),
    Case(
        "hyperband-with-metrics",
        lambda s: (
            s.update(
                earlyTerminate={"type": "hyperband", "minIter": 3},
                metrics=[{"name": "loss"}, {"name": "cost"}],
            ),
            s.pop("metric"),
        ),
        "spec.metric",
        SCHEMA,
        "earlyTerminate needs a single metric (not metrics)",
    ),
    Case(
        "warm-start-with-grid",
        setting(warmStart={"fromSweeps": ["earlier"]}),
        "spec.warmStart",
        SCHEMA,
        "use method bayes or tpe",
    ),
    Case(
        "hyperband-without-iterations",
        setting(earlyTerminate={"type": "hyperband"}),
        "spec.earlyTerminate",
        SCHEMA,
        "needs minIter, or maxIter with s",
    ),
    Case(
        "hyperband-max-iter-without-s",
        setting(earlyTerminate={"type": "hyperband", "maxIter": 27}),
        "spec.earlyTerminate.s",
        SCHEMA,
        "maxIter needs s",
    ),
    Case(
        "hyperband-max-iter-below-eta",
        setting(earlyTerminate={"type": "hyperband", "maxIter": 2, "s": 2, "eta": 3}),
        "spec.earlyTerminate.maxIter",
        SCHEMA,
        "no band is left",
    ),
    # Valid to the schema and its rules (CEL cannot see value and values, free JSON), but not a
    # search the operator can run: a condition names the field.
    Case(
        "values-and-range",
        parameter("lr", {"values": [1, 2], "min": 0, "max": 3}),
        "spec.parameters.lr",
        OPERATOR,
    ),
    Case(
        "probabilities-not-summing-to-one",
        lambda s: s.update(
            method="random", parameters={"o": {"values": [1, 2], "probabilities": [0.2, 0.2]}}
        ),
        "spec.parameters.o",
        OPERATOR,
    ),
    Case(
        "probabilities-length",
        lambda s: s.update(method="random", parameters={"o": {"values": [1, 2], "probabilities": [1.0]}}),
        "spec.parameters.o",
        OPERATOR,
    ),
    Case("empty-parameter", parameter("lr", {}), "spec.parameters.lr", OPERATOR),
    Case(
        "condition-names-no-parameter",
        lambda s: s.update(
            method="random", parameters={"o": {"values": [1, 2]}, "m": {"values": [3], "when": {"opt": 1}}}
        ),
        "spec.parameters.m.when.opt",
        OPERATOR,
        "names no parameter: 'opt'",
    ),
    Case(
        "condition-value-never-taken",
        lambda s: s.update(
            method="random", parameters={"o": {"values": [1, 2]}, "m": {"values": [3], "when": {"o": 5}}}
        ),
        "spec.parameters.m.when.o",
        OPERATOR,
        "o never takes the value 5",
    ),
    Case(
        "grid-over-a-nested-group",
        parameter(
            "opt",
            {"parameters": {"deep": {"parameters": {"lr": {"distribution": "uniform", "min": 0, "max": 1}}}}},
        ),
        "spec.parameters.opt.deep.lr",
        OPERATOR,
    ),
    Case("unknown-parameter-macro", in_container(args=["--lr=${params.lr}"]), "spec.template", OPERATOR),
    Case(
        "restart-policy-always",
        in_pod(restartPolicy="Always"),
        "spec.template.spec.template.spec.restartPolicy",
        OPERATOR,
    ),
    Case(
        "container-without-image",
        without_container_key("image"),
        "spec.template.spec.template.spec.containers[0].image",
        OPERATOR,
    ),
]


def spec_of(case: Case) -> dict[str, Any]:
    spec = copy.deepcopy(VALID)
    case.change(spec)
    return spec


def create(kube: Kube, namespace: str, name: str, spec: dict[str, Any]) -> None:
    body = {"apiVersion": api.API_VERSION, "kind": api.KIND, "metadata": {"name": name}, "spec": spec}
    # As `kubectl apply` does: unknown fields are an error, not silently dropped.
    kube.custom.create_namespaced_custom_object(
        api.GROUP, api.VERSION, namespace, api.PLURAL, body, field_validation="Strict"
    )


def test_the_corpus_is_large_and_named_uniquely() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [c for c in CASES if c.by == SCHEMA], ids=lambda c: c.id)
def test_the_schema_refuses_with_the_field(kube: Kube, ns: str, case: Case) -> None:
    with pytest.raises(ApiException) as info:
        create(kube, ns, case.id, spec_of(case))
    assert info.value.status in (400, 422), info.value.body
    assert case.field in str(info.value.body), info.value.body
    assert case.words in str(info.value.body), info.value.body


def test_sweeps_the_operator_cannot_run_end_with_a_condition_naming_the_field(
    kube: Kube, ns: str, operator: Operator
) -> None:
    cases = [c for c in CASES if c.by == OPERATOR]
    for case in cases:
        create(kube, ns, case.id, spec_of(case))
    create(kube, ns, "good", VALID)

    def ready(name: str) -> dict[str, Any] | None:
        status = kube.sweep(ns, name).get("status") or {}
        return next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)

    for case in cases:
        sweep = kube.wait_phase(ns, case.id, "Crashed", timeout=20)
        condition = ready(case.id)
        assert condition is not None and condition["status"] == "False", sweep["status"]
        assert condition["reason"] in ("InvalidSpec", "TemplateRejected")
        assert case.field in condition["message"], (case.id, condition["message"])
        assert not [j for j in kube.jobs(ns, case.id) if j.get("status", {}).get("active")]
    good = kube.wait_phase(ns, "good", "Finished", timeout=30)
    assert good["status"]["runs"]["finished"] == 2
    assert "Traceback" not in operator.log


def test_a_name_too_long_for_a_job_name_still_runs(kube: Kube, ns: str) -> None:
    name = "a-very-long-sweep-name-" + "x" * 80
    create(kube, ns, name, VALID)
    sweep = kube.wait_phase(ns, name, "Finished", timeout=30)
    assert sweep["status"]["runs"]["finished"] == 2
    jobs = wait_for(lambda: kube.jobs(ns, runs.label_value(name)), 5, "the runs' Jobs")
    assert all(len(j["metadata"]["name"]) <= 63 for j in jobs)
