"""The CEL rules of the CRD (x-kubernetes-validations): the API server refuses most mistakes in a
spec at `kubectl apply`, with the field named."""

from __future__ import annotations

from typing import Any

from kubesweep.search import space


def _rule(rule: str, message: str, field_path: str | None = None, **extra: str) -> dict[str, str]:
    out = {"rule": rule, "message": message}
    if field_path:
        out["fieldPath"] = field_path
    out.update(extra)
    return out


EARLY_TERMINATE_RULES: list[Any] = [  # Any: pydantic types json_schema_extra as JSON
    _rule(
        "has(self.minIter) || has(self.maxIter)",
        "hyperband needs minIter, or maxIter with s (W&B min_iter/max_iter)",
    ),
    _rule("self.type == 'hyperband' || has(self.minIter)", "asha and median need minIter", ".minIter"),
    _rule(
        "self.type != 'hyperband' || !has(self.maxIter) || has(self.s)",
        "maxIter needs s, the number of bands",
        ".s",
    ),
    _rule(
        "self.type == 'hyperband' || !has(self.s)", "s is hyperband's: asha and median do not take it", ".s"
    ),
    _rule("self.type == 'median' || !has(self.minRuns)", "minRuns is median's", ".minRuns"),
    _rule("self.type != 'median' || !has(self.maxIter)", "median does not take maxIter", ".maxIter"),
    _rule(
        "self.type != 'asha' || !has(self.maxIter) || !has(self.minIter) || self.maxIter > self.minIter",
        "maxIter must be above minIter",
        ".maxIter",
    ),
    _rule(
        "self.type != 'hyperband' || !has(self.maxIter) || double(self.maxIter) >= self.eta",
        "maxIter divided by eta is below 1: no band is left (raise maxIter or lower eta)",
        ".maxIter",
    ),
]


# What a rule can see: the API server hands CEL the typed fields only, so `value` and `values`
# (free JSON) are invisible to it; and it stores `min: 0.0` as 0 and hands CEL every `type:
# number` as a double, so a rule cannot tell 1 from 1.0. It can tell a whole number from a
# fraction, which is what the operator sees when it reads the stored object back: min and max
# of whole numbers without a distribution are int_uniform to both. Every rule refuses only what
# search.space refuses too (tests/unit/test_crd.py checks it on a corpus); the rest (values
# with min/max, probabilities per value and summing to 1, deeper nesting) stays the operator's
# InvalidSpec condition.
_TYPED_KEYS = space.KEYS - {"value", "values", "distribution", "when"}
_RANGE_KINDS = [k for k, (required, _) in space.DISTRIBUTIONS.items() if "min" in required]
_LOG_KINDS = [k for k in _RANGE_KINDS if k.endswith("log_uniform_values")]
# Kinds a grid cannot enumerate; deprecated ones have a rule of their own.
_NON_GRID_KINDS = [
    k for k in space.DISTRIBUTIONS if k not in space.GRID_KINDS and k != "categorical_w_probabilities"
]


def _cel_list(items: list[str]) -> str:
    return "[" + ", ".join(f"'{i}'" for i in items) + "]"


def _whole(x: str) -> str:
    # int() of a double outside int64 is an error: bound it first (the int64 range, in which the
    # API server writes a whole double as an integer, as the operator then reads it).
    return f"({x} >= -9.2e18 && {x} <= 9.2e18 && double(int({x})) == {x})"


def cel_kind(p: str) -> str:
    """CEL: the distribution of parameter `p` as space.infer_kind sees it, where a rule can know
    it (declared, or inferred from min and max); '' otherwise (value, values, or nothing)."""
    return (
        f"(has({p}.distribution) ? {p}.distribution : has({p}.min) && has({p}.max) ? "
        f"({_whole(p + '.min')} && {_whole(p + '.max')} ? 'int_uniform' : 'uniform') : '')"
    )


def _none_of(p: str, keys: set[str]) -> str:
    return " && ".join(f"!has({p}.{k})" for k in sorted(keys)) or "true"


def _takes(kind: str) -> list[str]:
    required, optional = space.DISTRIBUTIONS[kind]
    return [*required, *optional]


def _conflicts_rule() -> str:
    """A kind's keys only; `[kind].all(t, ...)` binds the kind once (CEL has no let). Without a
    distribution or a range, the typed keys other than probabilities and parameters conflict
    with value, with values and with nothing alike."""
    branches = [
        f"t == '{kind}' ? ({_none_of('self', _TYPED_KEYS - set(_takes(kind)))})"
        for kind in space.DISTRIBUTIONS
        if kind != "categorical_w_probabilities"
    ]
    fallback = _none_of("self", _TYPED_KEYS - {"probabilities", "parameters"})
    return f"[{cel_kind('self')}].all(t, " + " : ".join(branches) + f" : t == '' ? ({fallback}) : true)"


def _takes_text() -> str:
    texts = [
        f"'{kind}': '{', '.join(_takes(kind))}'"
        for kind in space.DISTRIBUTIONS
        if kind != "categorical_w_probabilities"
    ]
    return "{" + ", ".join(texts) + "}"


PARAMETER_RULES: list[dict[str, str]] = [
    _rule(
        f"!has(self.distribution) || !(self.distribution in {_cel_list(list(space.DEPRECATED))})",
        "the exponent forms log_uniform, q_log_uniform and inv_log_uniform are deprecated in W&B and "
        "not supported: use log_uniform_values, q_log_uniform_values or inv_log_uniform_values with "
        "min/max as the actual values",
        ".distribution",
        messageExpression="self.distribution + ' (min/max as exponents) is deprecated in W&B and not "
        "supported: use ' + self.distribution + '_values with min/max as the actual values'",
    ),
    _rule(
        "!has(self.parameters) || ("
        + _none_of("self", _TYPED_KEYS - {"parameters"} | {"distribution"})
        + ")",
        "nested parameters stand alone: move distribution, min, max and the other keys into the "
        "nested parameters, or remove parameters",
    ),
    _rule(
        "has(self.min) == has(self.max)",
        "a range needs both min and max",
        messageExpression="'a range needs both min and max; ' + (has(self.min) ? 'max' : 'min') + ' is missing'",
    ),
    _rule(
        f"!has(self.distribution) || !(self.distribution in {_cel_list(_RANGE_KINDS)}) || "
        "(has(self.min) && has(self.max))",
        "this distribution needs min and max",
        messageExpression="'a ' + self.distribution + ' parameter needs min and max'",
    ),
    _rule(
        _conflicts_rule(),
        "these keys do not go together: a distribution takes its own arguments only (uniform: min "
        "and max; q_uniform: min, max and q; normal: mu and sigma; beta: a and b)",
        messageExpression=f"[{cel_kind('self')}].map(t, t == '' ? 'mu, sigma, q, a and b need the "
        "distribution they belong to: write distribution' : 'keys conflict: ' + (has(self.distribution) "
        "? 'a ' + t : 'min and max without a distribution make an ' + t) + ' parameter, which takes "
        f"only ' + {_takes_text()}[t] + ' (write the distribution that takes the others)')[0]",
    ),
    _rule(
        "!has(self.min) || !has(self.max) || self.min < self.max || (self.min == self.max && "
        f"{cel_kind('self')} == 'int_uniform')",
        "max must be above min (or equal to it, in an int_uniform range)",
        ".max",
    ),
    _rule(
        f"!has(self.distribution) || !(self.distribution in {_cel_list(_LOG_KINDS)}) || !has(self.min) "
        "|| self.min > 0",
        "a logarithmic range needs min above 0",
        ".min",
    ),
    _rule(
        "!has(self.distribution) || self.distribution != 'int_uniform' || !has(self.min) || "
        f"!has(self.max) || ({_whole('self.min')} && {_whole('self.max')})",
        "int_uniform needs integer min and max (write distribution: uniform for a continuous range)",
        ".min",
    ),
]


def _grid_leaf_ok(p: str) -> str:
    return f"[{cel_kind(p)}].all(t, !(t in {_cel_list(_NON_GRID_KINDS)}))"


def _grid_ok(p: str) -> str:
    nested = (
        f"{p}.parameters.all(j, has({p}.parameters[j].parameters) || {_grid_leaf_ok(f'{p}.parameters[j]')})"
    )
    return f"(has({p}.parameters) ? {nested} : {_grid_leaf_ok(p)})"


def _no_probabilities(p: str) -> str:
    nested = f"{p}.parameters.all(j, !has({p}.parameters[j].probabilities))"
    return f"(has({p}.parameters) ? {nested} : !has({p}.probabilities))"


SPEC_RULES: list[Any] = [
    _rule(
        "!(self.method in ['bayes', 'tpe', 'cmaes']) || has(self.metric) || has(self.metrics)",
        "bayes, tpe and cmaes search need a metric to optimize: set metric.name and goal",
        ".metric",
        messageExpression="self.method + ' search needs a metric to optimize: set metric.name and goal'",
    ),
    _rule(
        "!has(self.metric) || !has(self.metrics)",
        "give metric (one objective) or metrics (several), not both",
        ".metrics",
    ),
    _rule(
        "self.method != 'cmaes' || !has(self.metrics)",
        "cmaes optimizes a single metric: use bayes or tpe for several objectives",
        ".method",
    ),
    _rule(
        "!has(self.metrics) || self.metrics.all(m, self.metrics.exists_one(n, n.name == m.name))",
        "each of metrics names a different metric",
        ".metrics",
    ),
    # No rule reads `when`: its values are free JSON, which the API server hides from CEL
    # together with the map that holds them ("undefined field 'when'"), so an unknown name or
    # value in a condition is the operator's InvalidSpec.
    _rule(
        "!has(self.warmStart) || self.method in ['bayes', 'tpe']",
        "warmStart feeds what bayes and tpe learn from: use method bayes or tpe",
        ".warmStart",
    ),
    _rule(
        "!has(self.earlyTerminate) || has(self.metric)",
        "earlyTerminate needs a single metric (not metrics): set metric.name and goal",
        ".metric",
    ),
    _rule(
        f"self.method != 'grid' || self.parameters.all(k, {_grid_ok('self.parameters[k]')})",
        "a grid sweep can only use values, value, int_uniform or q_uniform parameters (min and max "
        "of whole numbers make an int_uniform range): give each parameter values, or use method "
        "random or bayes",
        ".parameters",
        messageExpression="'a grid sweep can only use values, value, int_uniform or q_uniform "
        "parameters (min and max of whole numbers make an int_uniform range); ' + "
        f"self.parameters.filter(k, !{_grid_ok('self.parameters[k]')})[0] + ' is not: give it "
        "values, or use method random or bayes'",
    ),
    _rule(
        f"self.method != 'grid' || self.parameters.all(k, {_no_probabilities('self.parameters[k]')})",
        "a grid sweep tries every value once, so probabilities do not apply: remove them",
        ".parameters",
    ),
    _rule(
        "!(self.method in ['bayes', 'tpe', 'cmaes']) || self.parameters.exists(k, has(self.parameters[k].parameters) || "
        f"{cel_kind('self.parameters[k]')} != 'constant')",
        "bayes, tpe and cmaes need at least one parameter to search, not only constant values",
        ".parameters",
    ),
]
