"""The CRD is generated from the API models; the committed copies must not drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kubesweep import api, crd

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
        "State", "Phase", "Running", "Queued", "Finished", "Total", "Best", "Age",
    ]  # fmt: skip
    # Runs waiting in a queue show with -o wide: most clusters have no queue.
    assert [c["name"] for c in version["additionalPrinterColumns"] if c.get("priority")] == ["Queued"]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert spec["state"]["default"] == "running" and spec["parallelism"]["default"] == 1
    assert spec["method"]["enum"] == ["grid", "random", "bayes"]
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
