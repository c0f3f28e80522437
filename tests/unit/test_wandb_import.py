"""W&B sweep configs become Sweep manifests with the same meaning."""

from __future__ import annotations

import math
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
    # W&B fills strict in as true: the imported sweep says so, as kubesweep defaults to false.
    assert spec["earlyTerminate"] == {"type": "hyperband", "minIter": 3, "eta": 2, "strict": True}
    assert spec["parameters"] == {
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
        "optimizer": {"distribution": "categorical", "values": ["adam", "sgd"]},
    }
    container = spec["template"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/me/train:1"
    assert container["command"] == ["python", "train.py", "--epochs=10", "${args}"]
    # The program runs unchanged: spec.wandb is on, in the config's project.
    assert spec["wandb"] == {"mode": "offline", "project": "demo"}
    assert warnings == []


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


def test_deprecated_exponent_forms_become_the_same_distribution_in_values_form() -> None:
    config: dict[str, Any] = {
        "method": "random",
        "parameters": {
            "lr": {"distribution": "log_uniform", "min": math.log(1e-5), "max": math.log(0.1)},
            "inner": {
                "parameters": {
                    "wd": {"distribution": "inv_log_uniform", "min": 0, "max": math.log(100)},
                    "bs": {"distribution": "q_log_uniform", "min": 0, "max": math.log(256), "q": 8},
                }
            },
        },
    }
    manifest, warnings = wandb_import.convert(config, image="i")
    params = manifest["spec"]["parameters"]
    assert params["lr"]["distribution"] == "log_uniform_values"
    assert params["lr"]["min"] == pytest.approx(1e-5) and params["lr"]["max"] == pytest.approx(0.1)
    wd = params["inner"]["parameters"]["wd"]
    # exp(-u) for u in [0, ln 100]: values from 0.01 to 1.
    assert wd["distribution"] == "inv_log_uniform_values"
    assert (wd["min"], wd["max"]) == (pytest.approx(0.01), pytest.approx(1.0))
    bs = params["inner"]["parameters"]["bs"]
    assert bs["distribution"] == "q_log_uniform_values" and bs["q"] == 8 and bs["max"] == pytest.approx(256)
    assert any(w.startswith("parameters.lr: log_uniform") for w in warnings)
    assert any(w.startswith("parameters.inner.parameters.wd:") for w in warnings)
    reconcile.parse_spec(manifest["spec"])  # valid for the operator
    assert config["parameters"]["lr"]["distribution"] == "log_uniform"  # the input is not modified


def test_args_json_file_is_the_pods_file_and_no_boolean_flags_kubesweeps_macro() -> None:
    config = {"method": "grid", "program": "t.py", "parameters": {"a": {"value": 1}}}
    command = [
        "python",
        "${program}",
        "--config=${args_json_file}",
        "${args_json_file}",
        "${args_no_boolean_flags}",
    ]
    manifest, warnings = wandb_import.convert({**config, "command": command}, image="i")
    container = manifest["spec"]["template"]["spec"]["template"]["spec"]["containers"][0]
    path = "/var/run/kubesweep/args.json"
    assert container["command"] == ["python", "t.py", f"--config={path}", path, "${args_no_boolean_flags}"]
    assert warnings == []
    _, warnings = wandb_import.convert({**config, "command": ["${program}", "${args_no_equals}"]}, image="i")
    assert warnings == ["${args_no_equals}: not a macro kubesweep expands; kept as it is"]


def test_args_no_boolean_flags_as_wandbs_agent_writes_them() -> None:
    from kubesweep import runs

    parameters = {"lr": 0.1, "amp": True, "debug": False, "opt": "adam"}
    assert runs.expand_args(["${args_no_boolean_flags}"], parameters) == ["--lr=0.1", "--amp", "--opt=adam"]
    assert runs.expand_args(["x ${args_no_boolean_flags}"], parameters) == ["x --lr=0.1 --amp --opt=adam"]


def as_the_api_server_stores_it(value: Any) -> Any:
    """JSON as etcd keeps it: a whole-number float comes back as an integer (0.0 as 0)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: as_the_api_server_stores_it(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_the_api_server_stores_it(v) for v in value]
    return value


WHOLE_FLOATS = """
method: random
program: train.py
parameters:
  dropout: {min: 0.0, max: 1.0}
  layers: {min: 1, max: 8}
  momentum: {distribution: q_uniform, min: 0.0, max: 1.0, q: 0.1}
  lr: {distribution: log_uniform_values, min: 0.0001, max: 1.0}
  optimizer: {values: [adam, sgd]}
  epochs: {value: 10}
  inner:
    parameters:
      scale: {min: 1.0, max: 10.0}
"""


def test_every_parameter_gets_its_distribution_so_whole_number_floats_stay_continuous() -> None:
    import yaml

    from kubesweep.search.space import parse

    manifest, warnings = wandb_import.convert(yaml.safe_load(WHOLE_FLOATS), image="i")
    assert warnings == []
    stored = as_the_api_server_stores_it(manifest["spec"])
    assert stored["parameters"]["dropout"] == {"distribution": "uniform", "min": 0, "max": 1}
    kinds = {p.path: p.kind for p in parse(reconcile.parse_spec(stored).parameters)}
    assert kinds == {
        "dropout": "uniform",
        "layers": "int_uniform",
        "momentum": "q_uniform",
        "lr": "log_uniform_values",
        "optimizer": "categorical",
        "epochs": "constant",
        "inner.scale": "uniform",
    }


def test_kubectl_sweep_import_wandb_prints_the_distributions(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from kubesweep import plugin

    path = tmp_path / "sweep.yaml"
    path.write_text(WHOLE_FLOATS)
    assert plugin.main(["import-wandb", str(path), "--image", "i"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["spec"]["parameters"]["dropout"]["distribution"] == "uniform"
    assert printed["spec"]["parameters"]["inner"]["parameters"]["scale"]["distribution"] == "uniform"


def test_a_parameter_whose_type_cannot_be_inferred_is_kept_with_a_warning() -> None:
    config = {"method": "random", "program": "t.py", "parameters": {"x": {"min": 0.0}}}
    manifest, warnings = wandb_import.convert(config, image="i")
    assert manifest["spec"]["parameters"] == {"x": {"min": 0.0}}
    assert warnings == ["parameters.x: a range needs both min and max; max is missing; kept as it is"]


def import_wandb(
    argv: list[str], config: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    import io

    from kubesweep import plugin

    monkeypatch.setattr("sys.stdin", io.StringIO(config))
    code = plugin.main(["import-wandb", "-", "--image", "i", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_import_wandb_reads_standard_input_and_takes_parallelism_and_the_wandb_mode(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    code, out, _ = import_wandb(
        ["--parallelism", "4", "--api-key-secret", "wandb"], WHOLE_FLOATS, capsys, monkeypatch
    )
    assert code == 0
    spec = yaml.safe_load(out)["spec"]
    assert spec["parallelism"] == 4
    assert spec["wandb"] == {"mode": "online", "apiKeySecret": {"name": "wandb", "key": "api-key"}}
    code, out, _ = import_wandb(["--wandb-mode", "disabled"], WHOLE_FLOATS, capsys, monkeypatch)
    assert yaml.safe_load(out)["spec"]["wandb"] == {"mode": "disabled"}


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ("program: t.py\nmethod: random\nparameters: {lr: {min: 0.5, max: 0.1}}\n", "spec.parameters.lr"),
        ("program: t.py\nmethod: bayes\nparameters: {lr: {min: 0.1, max: 0.5}}\n", "spec.metric"),
    ],
)
def test_import_wandb_refuses_a_sweep_the_operator_would_refuse(
    config: str, field: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = import_wandb([], config, capsys, monkeypatch)
    assert code == 1 and out == ""
    assert err.startswith(f"error: standard input makes a Sweep kubesweep would refuse: {field}")


def test_a_list_of_metrics_becomes_several_objectives_without_target() -> None:
    config = {
        **WANDB,
        "metrics": [{"name": "val_loss", "goal": "minimize", "target": 0.1}, {"name": "latency"}],
    }
    del config["metric"], config["early_terminate"]
    manifest, warnings = wandb_import.convert(config, image="i")
    assert manifest["spec"]["metrics"] == [{"name": "val_loss", "goal": "minimize"}, {"name": "latency"}]
    assert "metrics[0].target: not supported with several objectives, dropped" in warnings
    reconcile.parse_spec(manifest["spec"])
