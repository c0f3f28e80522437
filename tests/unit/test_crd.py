"""The CRD is generated from the API models; the committed copies must not drift."""

from __future__ import annotations

import copy
import random
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesweep import api, crd, reconcile
from kubesweep.sandbox import admission, schema
from kubesweep.search import space

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "crds" / "sweeps.kubesweep.io.yaml"


def test_committed_crd_matches_the_models() -> None:
    assert CRD_FILE.read_text() == crd.render_yaml(), "run `make crd` and commit the result"


def test_chart_carries_the_very_same_crd() -> None:
    assert (ROOT / "helm" / "kubesweep" / "crds" / CRD_FILE.name).read_bytes() == CRD_FILE.read_bytes()


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, value in node.items():
            found.extend(_walk(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_walk(value, f"{path}[{i}]"))
    return found


def test_schema_is_structural() -> None:
    schema = crd.render()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema):
        assert "$ref" not in node and "anyOf" not in node and "title" not in node, path
        assert not ("properties" in node and "additionalProperties" in node), path
        assert node.get("additionalProperties") is not False, path


def test_preserve_unknown_fields_only_inside_the_template_and_free_form_values() -> None:
    schema = crd.render()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    allowed = (
        ".properties.spec.properties.template",
        ".properties.spec.properties.parameters.additionalProperties.properties.value",
        ".properties.spec.properties.parameters.additionalProperties.properties.values",
        # A condition's value(s): any JSON a categorical's values hold.
        ".properties.spec.properties.parameters.additionalProperties.properties.when.additionalProperties",
        ".properties.spec.properties.parameters.additionalProperties.properties.parameters",
        ".properties.status.properties.bestRun.properties.parameters",
        ".properties.status.properties.recordedRuns.items.properties.parameters",
    )
    for path, node in _walk(schema):
        if node.get("x-kubernetes-preserve-unknown-fields"):
            assert path.startswith(allowed), path


def test_crd_names_columns_and_status_subresource() -> None:
    doc = yaml.safe_load(CRD_FILE.read_text())
    names = doc["spec"]["names"]
    assert (names["kind"], names["plural"], names["shortNames"], names["categories"]) == (
        "Sweep",
        "sweeps",
        ["sw"],
        ["all-sweeps"],
    )
    version = doc["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "State", "Phase", "Running", "Queued", "Finished", "Failed", "Crashed", "Killed", "Total", "Retries",
        "Best", "Front", "Age",
    ]  # fmt: skip
    # Runs waiting in a queue show with -o wide: most clusters have no queue; crashed and killed
    # runs, retries, and the Pareto front's size (a sweep of several objectives has no best) too.
    assert [c["name"] for c in version["additionalPrinterColumns"] if c.get("priority")] == [
        "Queued", "Crashed", "Killed", "Retries", "Front",
    ]  # fmt: skip
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert spec["state"]["default"] == "running" and spec["parallelism"]["default"] == 1
    assert spec["method"]["enum"] == ["grid", "random", "bayes", "tpe", "cmaes", "qmc"]
    assert all(field.get("description") for field in spec.values())


def test_design_example_is_a_valid_spec() -> None:
    spec = {
        "state": "running",
        "method": "bayes",
        "metric": {"name": "val_loss", "goal": "minimize", "target": 0.05},
        "parameters": {
            "lr": {"distribution": "log_uniform_values", "min": 1.0e-5, "max": 0.1},
            "batch_size": {"values": [32, 64, 128]},
            "optimizer": {"value": "adam"},
        },
        "parallelism": 4,
        "runCap": 50,
        "maxFailedRuns": 5,
        "earlyTerminate": {"type": "hyperband", "minIter": 3, "eta": 3},
        "seed": 7,
        "template": {"spec": {"template": {"spec": {"containers": [{"name": "train", "image": "x"}]}}}},
    }
    parsed = api.SweepSpec.model_validate(spec)
    assert (
        parsed.run_cap == 50 and parsed.early_terminate is not None and parsed.early_terminate.min_iter == 3
    )


def test_kubectl_explain_says_what_integers_infer_and_how_to_ask_for_a_continuous_range() -> None:
    schema = crd.render()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    parameters = schema["properties"]["spec"]["properties"]["parameters"]
    for description in (
        parameters["description"],
        parameters["additionalProperties"]["properties"]["distribution"]["description"],
    ):
        assert "int_uniform" in description and "0.0" in description, description
        assert "uniform" in description.replace("int_uniform", ""), description
    assert "distribution: uniform" in parameters["description"]


# --- CEL rules (x-kubernetes-validations): refused at `kubectl apply`, never more than the operator refuses.

SCHEMA = crd.openapi_schema()
TEMPLATE = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}}


def _stored_and_causes(spec: dict[str, Any]) -> tuple[dict[str, Any], list[schema.Cause]]:
    body = {"apiVersion": api.API_VERSION, "kind": api.KIND, "metadata": {"name": "s"}, "spec": spec}
    stored, outcome = schema.check(admission.whole_numbers(body), SCHEMA)
    return stored, outcome.causes


VALID_PARAMETERS: list[dict[str, Any]] = [
    {"value": 1},
    {"values": [1, 2]},
    {"values": [1, 2], "probabilities": [0.5, 0.5]},
    {"min": 0, "max": 3},
    {"min": 2, "max": 2},
    {"min": 0.5, "max": 2.5},
    {"distribution": "uniform", "min": 0, "max": 1},
    {"distribution": "int_uniform", "min": 1, "max": 1},
    {"distribution": "q_uniform", "min": 0, "max": 10, "q": 2},
    {"distribution": "log_uniform_values", "min": 1e-5, "max": 0.1},
    {"distribution": "inv_log_uniform_values", "min": 1, "max": 100},
    {"distribution": "normal"},
    {"distribution": "q_normal", "mu": 1, "sigma": 2, "q": 0.5},
    {"distribution": "log_normal", "mu": 0, "sigma": 1},
    {"distribution": "beta", "a": 2, "b": 3},
    {"distribution": "q_beta", "a": 2, "b": 3, "q": 0.1},
    {"distribution": "constant", "value": 3},
    {"distribution": "categorical", "values": [1]},
    {"parameters": {"x": {"values": [1]}, "y": {"min": 0, "max": 1}}},
]


def _mutated(rng: random.Random, param: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """A valid parameter, or one to three small mistakes away from one."""
    param = copy.deepcopy(param)
    numbers = [-1, 0, 0.5, 1, 2, 2.5, 10, 1e300]
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        key = rng.choice(sorted(space.KEYS))
        action = rng.random()
        if action < 0.3 and param:
            param.pop(rng.choice(sorted(param)))
        elif key == "distribution":
            param[key] = rng.choice([*space.DISTRIBUTIONS, *space.DEPRECATED])
        elif key == "value":
            param[key] = rng.choice([1, "adam", 0.5])
        elif key == "values":
            param[key] = rng.sample([1, 2, 3, "a"], rng.randint(1, 3))
        elif key == "probabilities":
            param[key] = rng.choice([[1.0], [0.5, 0.5], [0.2]])
        elif key == "parameters":
            if depth == 0:
                param[key] = {"inner": _mutated(rng, rng.choice(VALID_PARAMETERS), 1)}
        else:
            param[key] = rng.choice(numbers)
    if "parameters" in param and depth == 0 and rng.random() < 0.5:
        param["parameters"] = {k: _mutated(rng, v, 1) for k, v in param["parameters"].items()}
    return param


def test_every_cel_refusal_is_one_the_operator_makes_too() -> None:
    """No rule refuses a sweep the operator would run: 4,000 specs, valid and not, as stored."""
    rng = random.Random(13)
    refused = accepted = 0
    for _ in range(4000):
        spec: dict[str, Any] = {
            "method": rng.choice(["grid", "random", "bayes", "tpe", "cmaes", "qmc"]),
            "parameters": {
                f"p{i}": _mutated(rng, rng.choice(VALID_PARAMETERS)) for i in range(rng.randint(1, 2))
            },
            "template": TEMPLATE,
        }
        if rng.random() < 0.7:
            spec["metric"] = {"name": "loss"}
        if rng.random() < 0.1:
            # Several objectives: mostly alone, or beside metric; distinct or not.
            spec["metrics"] = [
                {"name": "loss"},
                {"name": rng.choice(["acc", "acc", "loss"]), "goal": "maximize"},
            ]
            if rng.random() < 0.7:
                spec.pop("metric", None)
        if rng.random() < 0.1:
            # A condition on the other parameter, or on one that is not there.
            spec["parameters"]["p0"]["when"] = {rng.choice(["p1", "nope"]): rng.choice([1, "a", [1, 2]])}
        if rng.random() < 0.3:
            kind = rng.choice(["hyperband", "hyperband", "asha", "median"])
            spec["earlyTerminate"] = {
                k: v
                for k, v in {"type": kind, "minIter": rng.choice([None, 1, 3]),
                             "maxIter": rng.choice([None, 2, 27]),
                             "s": rng.choice([None, 1, 2]) if kind == "hyperband" else None,
                             "minRuns": rng.choice([None, 5]) if kind != "asha" else None,
                             "eta": rng.choice([2, 3, 4.5])}.items()
                if v is not None
            }  # fmt: skip
        stored, causes = _stored_and_causes(spec)
        if causes:
            refused += 1
            with pytest.raises(reconcile.InvalidSweep):
                reconcile.parse_spec(stored["spec"])
        else:
            accepted += 1
    assert refused > 800 and accepted > 800, (refused, accepted)  # the corpus exercises both sides


@pytest.mark.parametrize(
    ("spec_change", "field", "words"),
    [
        ({"parameters": {"lr": {"min": 5, "max": 1}}}, "spec.parameters[lr].max", "max must be above min"),
        ({"parameters": {"lr": {"min": 1.5, "max": 1.5}}}, "spec.parameters[lr].max", "int_uniform"),
        ({"method": "grid", "parameters": {"lr": {"min": 0.1, "max": 1.0}}}, "spec.parameters", "lr is not"),
        ({"method": "bayes", "metric": None}, "spec.metric", "needs a metric"),
        ({"method": "tpe", "metric": None}, "spec.metric", "tpe search needs a metric"),
        ({"metrics": [{"name": "a"}, {"name": "b"}]}, "spec.metrics", "not both"),
        ({"warmStart": {"fromSweeps": ["old"]}}, "spec.warmStart", "bayes or tpe"),
        (
            {"method": "cmaes", "metric": None, "metrics": [{"name": "a"}, {"name": "b"}]},
            "spec.method",
            "cmaes optimizes",
        ),
        ({"metric": None, "metrics": [{"name": "a"}, {"name": "a"}]}, "spec.metrics", "different metric"),
        (
            {
                "metric": None,
                "metrics": [{"name": "a"}, {"name": "b"}],
                "earlyTerminate": {"type": "hyperband", "minIter": 3},
            },
            "spec.metric",
            "single metric",
        ),
        (
            {"parameters": {"lr": {"distribution": "q_log_uniform", "min": 0, "max": 3}}},
            "spec.parameters[lr].distribution",
            "use q_log_uniform_values",
        ),
        (
            {"parameters": {"g": {"parameters": {"lr": {"distribution": "uniform", "min": 1}}}}},
            "spec.parameters[g].parameters[lr]",
            "needs both min and max; max is missing",
        ),
    ],
)
def test_cel_refusals_name_the_field_as_the_real_server_does(
    spec_change: dict[str, Any], field: str, words: str
) -> None:
    spec = {
        "method": "random",
        "metric": {"name": "l"},
        "parameters": {"a": {"values": [1]}},
        "template": TEMPLATE,
    }
    spec = {k: v for k, v in {**spec, **spec_change}.items() if v is not None}
    _, causes = _stored_and_causes(spec)
    assert [c.field for c in causes if words in c.message] == [field], causes
    assert all(c.as_dict()["message"].startswith("Invalid value: ") for c in causes)


def test_a_type_error_skips_the_rules_and_says_so() -> None:
    spec = {"method": "random", "parameters": {"a": {"min": "x", "max": 1}}, "template": TEMPLATE}
    _, causes = _stored_and_causes(spec)
    assert [c.reason for c in causes] == ["FieldValueTypeInvalid", "FieldValueInvalid"]
    assert causes[1] == schema.RULES_NOT_CHECKED


def test_an_object_stored_before_a_rule_stays_writable_where_unchanged() -> None:
    """The API server's validation ratcheting: unchanged values are not checked again."""
    bad = {"method": "random", "parameters": {"a": {"min": 5, "max": 1}}, "template": TEMPLATE}
    old = {"apiVersion": api.API_VERSION, "kind": api.KIND, "metadata": {"name": "s"}, "spec": bad}
    new = {**old, "status": {"phase": "Crashed"}}
    assert not schema.check(new, SCHEMA, old)[1].causes
    changed = {**old, "spec": {**bad, "parameters": {"a": {"min": 6, "max": 1}}}}
    assert schema.check(changed, SCHEMA, old)[1].causes


def test_the_rules_read_only_fields_cel_can_see() -> None:
    """The API server declares only typed fields to CEL: free JSON (value, values) would make
    the CRD fail to install."""
    expressions = [
        rule.get(key, "")
        for path, node in _walk(crd.render())
        for rule in node.get("x-kubernetes-validations", [])
        for key in ("rule", "messageExpression")
    ]
    assert len(expressions) > 30
    assert not [e for e in expressions if re.search(r"\.values?\b", e)]
