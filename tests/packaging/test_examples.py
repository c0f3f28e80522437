"""Every example a user copies is valid: Sweeps against the CRD's schema, their Job templates and
any other object against the Kubernetes schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from kubesweep import reconcile
from kubesweep.sandbox import admission, schema

from .k8s import ROOT, Obj, sweep_crd, validate

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def sweep_schema() -> Obj:
    versions = sweep_crd()["spec"]["versions"]
    schema: Obj = next(v for v in versions if v.get("storage"))["schema"]["openAPIV3Schema"]
    return schema


def run_job(sweep: Obj) -> Obj:
    """The Job a run gets, before parameters are filled in: the template must already be valid."""
    template = sweep["spec"]["template"]
    metadata = {**template.get("metadata", {}), "name": f"{sweep['metadata']['name']}-0001"}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": template["spec"]}


def test_there_are_examples() -> None:
    assert EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: Path(p).name)
def test_the_example_is_valid(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs, f"{path.name} is empty"
    for doc in docs:
        if doc.get("kind") == "Sweep":
            assert doc["apiVersion"] == "kubesweep.io/v1alpha1"
            jsonschema.validate(doc, sweep_schema(), cls=jsonschema.Draft4Validator)
            # The CRD's CEL rules too (jsonschema knows nothing of x-kubernetes-validations).
            assert not schema.check(admission.whole_numbers(doc), sweep_schema())[1].causes
            # And the operator runs it (what CEL cannot see, such as a condition's names).
            reconcile.parse_spec(admission.whole_numbers(doc)["spec"])
            validate([run_job(doc)])
        validate([doc])


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"state": "halted"}, "halted"),
        ({"method": "annealing"}, "annealing"),
        ({"parallelism": "four"}, "four"),
    ],
)
def test_the_crd_schema_rejects_a_broken_sweep(change: dict[str, Any], where: str) -> None:
    sweep = yaml.safe_load(EXAMPLES[0].read_text())
    sweep["spec"].update(change)
    with pytest.raises(jsonschema.ValidationError, match=where):
        jsonschema.validate(sweep, sweep_schema(), cls=jsonschema.Draft4Validator)


def test_a_broken_job_template_is_caught() -> None:
    sweep = yaml.safe_load(EXAMPLES[0].read_text())
    sweep["spec"]["template"]["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 3
    with pytest.raises(Exception, match=r"imagePullPolicy|3"):
        validate([run_job(sweep)])
