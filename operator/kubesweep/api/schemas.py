"""Structural schemas written by hand for the fields the models type as free JSON: a parameter of
the search space (with its CEL rules) and the Job template of every run."""

from __future__ import annotations

from typing import Any

from kubesweep.api.cel import PARAMETER_RULES

# W&B's parameter syntax, kept verbatim: see search/ for its meaning and validation. The CRD
# gives it a structural schema of its known keys (values are arbitrary JSON) and the CEL rules
# of `cel`, so most mistakes are refused at `kubectl apply` with the field named.
MAX_PARAMETERS = 200  # per level: bounds the rules' cost, which the API server checks
MAX_NESTED_PARAMETERS = 50
MAX_CONDITIONS = 8


def _parameter_schema(nested: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "A parameter in W&B's syntax: value, values (+probabilities), a distribution "
        "with min/max, mu/sigma, q, a/b, or nested parameters.",
        "properties": {
            "value": {
                "description": "A constant value.",
                "x-kubernetes-preserve-unknown-fields": True,
            },
            "values": {
                "type": "array",
                "minItems": 1,
                "description": "The values to choose from (categorical).",
                "items": {"x-kubernetes-preserve-unknown-fields": True},
            },
            "probabilities": {
                "type": "array",
                "description": "The probability of each of values, in random and bayes search.",
                "items": {"type": "number", "minimum": 0, "maximum": 1},
            },
            "distribution": {
                "type": "string",
                "description": "The distribution to sample from. Left out, it is inferred: constant "
                "for value, categorical for values, int_uniform for integer min and max (0.0 is stored "
                "as 0: write uniform for a continuous range), uniform otherwise.",
                "enum": [
                    "constant",
                    "categorical",
                    "categorical_w_probabilities",  # W&B's name for values with probabilities
                    "int_uniform",
                    "uniform",
                    "q_uniform",
                    "log_uniform_values",
                    "q_log_uniform_values",
                    "inv_log_uniform_values",
                    "normal",
                    "q_normal",
                    "log_normal",
                    "q_log_normal",
                    "beta",
                    "q_beta",
                    # Deprecated exponent forms: accepted by the enum so that a rule can name
                    # their _values replacement instead of a bare enum error.
                    "log_uniform",
                    "q_log_uniform",
                    "inv_log_uniform",
                ],
            },
            "min": {"type": "number", "description": "The lower bound."},
            "max": {"type": "number", "description": "The upper bound."},
            "mu": {"type": "number", "description": "The mean of a normal or log-normal distribution."},
            "sigma": {
                "type": "number",
                "minimum": 0,
                "exclusiveMinimum": True,
                "description": "The standard deviation of a normal distribution, above 0.",
            },
            "q": {
                "type": "number",
                "minimum": 0,
                "exclusiveMinimum": True,
                "description": "The quantization step of q_ distributions, above 0.",
            },
            "a": {
                "type": "number",
                "minimum": 0,
                "exclusiveMinimum": True,
                "description": "The alpha of a beta distribution, above 0.",
            },
            "b": {
                "type": "number",
                "minimum": 0,
                "exclusiveMinimum": True,
                "description": "The beta of a beta distribution, above 0.",
            },
            "when": {
                "type": "object",
                "description": "Conditions: this parameter (or group) exists only when each named "
                "parameter (by its path; one with values or value) has the value given, or one of "
                "a list of values, e.g. {optimizer: sgd}. Otherwise the run does not get it.",
                "maxProperties": MAX_CONDITIONS,
                "additionalProperties": {"x-kubernetes-preserve-unknown-fields": True},
            },
            "parameters": nested,
        },
        "x-kubernetes-validations": PARAMETER_RULES,
    }


# Nested parameters have the same schema and rules one level down; deeper levels are free JSON
# that the operator validates (a structural schema cannot recurse).
PARAMETER_SCHEMA: dict[str, Any] = _parameter_schema(
    {
        "type": "object",
        "description": "Nested parameters: the run gets a dictionary for this one.",
        "maxProperties": MAX_NESTED_PARAMETERS,
        "additionalProperties": _parameter_schema(
            {
                "type": "object",
                "description": "Nested parameters: the run gets a dictionary for this one.",
                "x-kubernetes-preserve-unknown-fields": True,
            }
        ),
    }
)


JOB_TEMPLATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A batch/v1 JobTemplateSpec: the Job of every run. Parameters reach it through "
    "${args}, ${args_no_hyphens}, ${args_no_boolean_flags}, ${args_json}, ${params.NAME} and the "
    "KUBESWEEP_* env vars.",
    "required": ["spec"],
    "properties": {
        "metadata": {
            "type": "object",
            "description": "Labels and annotations added to every run's Job.",
            "properties": {
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "description": "A batch/v1 JobSpec.",
            "x-kubernetes-preserve-unknown-fields": True,
            "required": ["template"],
            "properties": {
                "template": {
                    "type": "object",
                    "description": "The pod template of the run.",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "required": ["spec"],
                    "properties": {
                        "spec": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                            "required": ["containers"],
                            "properties": {
                                "containers": {
                                    "type": "array",
                                    "minItems": 1,
                                    "description": "The first container runs the training.",
                                    "items": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                        "required": ["name"],
                                        "properties": {"name": {"type": "string", "minLength": 1}},
                                    },
                                }
                            },
                        }
                    },
                }
            },
        },
    },
}
