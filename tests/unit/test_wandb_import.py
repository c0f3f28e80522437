"""W&B sweep configs become Sweep manifests with the same meaning."""

from __future__ import annotations

from typing import Any

import pytest

from kubesweep import reconcile, wandb_import

WANDB = {
    "name": "My LR search",
    "program": "train.py",
    "method": "bayes",
    "metric": {"name": "val_loss", "goal": "minimize", "target": 0.1},
    "run_cap": 30,
    "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 2},
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
        "optimizer": {"values": ["adam", "sgd"]},
    },
    "command": ["${env}", "${interpreter}", "${program}", "--epochs=10", "${args}"],
    "project": "demo",
}


def test_keys_are_mapped_to_camel_case_and_the_command_to_the_container() -> None:
    manifest, warnings = wandb_import.convert(WANDB, image="ghcr.io/me/train:1")
    spec = manifest["spec"]
    assert manifest["metadata"]["name"] == "my-lr-search"
    assert spec["runCap"] == 30
    assert spec["earlyTerminate"] == {"type": "hyperband", "minIter": 3, "eta": 2}
    assert spec["parameters"] == WANDB["parameters"]
    container = spec["template"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/me/train:1"
    assert container["command"] == ["python", "train.py", "--epochs=10", "${args}"]
    assert any(w.startswith("project:") for w in warnings)


def test_the_manifest_is_a_valid_sweep() -> None:
    manifest, _ = wandb_import.convert(WANDB, image="i", name="imported")
    spec: dict[str, Any] = manifest["spec"]
    reconcile.parse_spec(spec)  # raises on anything the operator would refuse
    assert manifest["metadata"]["name"] == "imported"


def test_the_default_command_runs_the_program_with_args() -> None:
    manifest, _ = wandb_import.convert(
        {"method": "grid", "program": "t.py", "parameters": {"a": {"value": 1}}}, image="i"
    )
    container = manifest["spec"]["template"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "t.py", "${args}"]


def test_unknown_keys_are_reported_not_dropped_silently() -> None:
    config = {
        **WANDB,
        "early_terminate": {"type": "hyperband", "min_iter": 3, "bracket": 9},
        "controller": {"type": "local"},
    }
    _, warnings = wandb_import.convert(config, image="i")
    assert "early_terminate.bracket: not supported, dropped" in warnings
    assert any(w.startswith("controller:") for w in warnings)


def test_a_config_without_method_or_parameters_is_an_error() -> None:
    with pytest.raises(ValueError, match="method"):
        wandb_import.convert({"parameters": {}}, image="i")
    with pytest.raises(ValueError, match="parameters"):
        wandb_import.convert({"method": "grid"}, image="i")
