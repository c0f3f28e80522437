"""`kubectl sweep report`: a sweep's runs as one self-contained HTML page.

Pure: a Sweep and its Jobs in, the runs (`runs_of`) and the page (`render`) out. The page draws
with inline SVG and a few lines of inline script (a run hovered is highlighted in every chart):
no library, no font, no request at view time, so it opens from a mail attachment or an
air-gapped laptop as it does anywhere.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubesweep import api
from kubesweep.search import hyperband, space

RUN_STATES = ("Queued", "Pending", "Running", "Finished", "Failed", "Crashed", "Killed")
STATE_COLORS = {
    "Queued": "#9e9e9e",
    "Pending": "#bdbdbd",
    "Running": "#1e88e5",
    "Finished": "#43a047",
    "Failed": "#e53935",
    "Crashed": "#8e24aa",
    "Killed": "#fb8c00",
}
BEST_SHOWN = 10
# Stops of the colour scale from the worst metric to the best (viridis).
_SCALE = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")


@dataclass(frozen=True)
class Run:
    """One run as the report and the exports show it."""

    name: str
    number: int
    state: str  # a RunState, or Queued for a Job waiting in its queue
    parameters: dict[str, Any]  # as the run got them (nested parameters nested)
    metrics: dict[str, float] = field(default_factory=dict)
    bands: list[float] | None = None
    reason: str | None = None
    exit_code: int | None = None
    message: str | None = None
    job_deleted: bool = False


def _number_of(name: str, annotations: Mapping[str, Any]) -> int:
    text = annotations.get(api.ANNOTATION_RUN_NUMBER) or name.rsplit("-", 1)[-1]
    try:
        return int(text)
    except ValueError:
        return 0


def _live_state(job: Mapping[str, Any]) -> str:
    if (job.get("status") or {}).get("active"):
        return "Running"
    if (job.get("spec") or {}).get("suspend"):
        return "Queued"
    return "Pending"


def runs_of(sweep: Mapping[str, Any], jobs: Sequence[Mapping[str, Any]]) -> list[Run]:
    """Every run the cluster still knows, by number: the status's records (they hold the bands),
    then the Jobs of runs not recorded yet (their result annotation, or their live state)."""
    records = {r["name"]: r for r in (sweep.get("status") or {}).get("recordedRuns") or []}
    with_jobs = {job["metadata"]["name"] for job in jobs}
    out: list[Run] = []
    for name, record in records.items():
        out.append(
            Run(
                name=name,
                number=int(record.get("number") or _number_of(name, {})),
                state=str(record.get("state")),
                parameters=dict(record.get("parameters") or {}),
                metrics=dict(record.get("metrics") or {}),
                bands=list(record["bands"]) if record.get("bands") is not None else None,
                reason=record.get("reason"),
                exit_code=record.get("exitCode"),
                message=record.get("message"),
                job_deleted=name not in with_jobs,
            )
        )
    for job in jobs:
        name = job["metadata"]["name"]
        if name in records:
            continue
        annotations = job["metadata"].get("annotations") or {}
        try:
            result = json.loads(annotations.get(api.ANNOTATION_RESULT) or "{}")
            parameters = json.loads(annotations.get(api.ANNOTATION_PARAMETERS) or "{}")
        except ValueError:
            result, parameters = {}, {}
        out.append(
            Run(
                name=name,
                number=_number_of(name, annotations),
                state=str(result.get("state") or _live_state(job)),
                parameters=parameters if isinstance(parameters, dict) else {},
                metrics={
                    k: float(v)
                    for k, v in (result.get("metrics") or {}).items()
                    if isinstance(v, int | float) and not isinstance(v, bool)
                },
                reason=result.get("reason"),
                exit_code=result.get("exitCode"),
                message=result.get("message"),
            )
        )
    return sorted(out, key=lambda r: (r.number, r.name))


# ---------------------------------------------------------------------------------------------
# The sweep's search space and metric, as the charts read them.


@dataclass(frozen=True)
class Axis:
    key: str  # the flat key of the parameter (space.Param.key), or the metric's name
    label: str
    kind: str  # a distribution, or "metric"
    values: dict[str, Any]  # run name -> its value (absent: the run has none)
    choices: list[str] | None = None  # categorical: the values' texts in their order
    log: bool = False


_LOG_KINDS = {
    "log_uniform_values",
    "q_log_uniform_values",
    "inv_log_uniform_values",
    "log_normal",
    "q_log_normal",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def flat_parameters(spec: Mapping[str, Any], runs: Sequence[Run]) -> list[tuple[str, str, str]]:
    """(flat key, label, distribution) of every parameter: the spec's, in its order, then any a
    run got that the spec no longer has (the spec changed, or it is invalid)."""
    try:
        params = space.parse(spec.get("parameters") or {})
    except space.SearchSpaceError:
        params = []
    out = [(p.key, p.path, p.kind) for p in params]
    known = {key for key, _, _ in out}
    for run in runs:
        for key in _flatten(run.parameters):
            if key not in known:
                known.add(key)
                out.append((key, key, "categorical"))
    return out


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def run_parameters(spec: Mapping[str, Any], run: Run) -> dict[str, Any]:
    """A run's parameters by flat key (space.Param.key where the spec knows them)."""
    try:
        params = space.parse(spec.get("parameters") or {})
    except space.SearchSpaceError:
        params = []
    known = space.flatten(run.parameters, params)
    covered = {".".join(p.keys) for p in params}
    rest = {k: v for k, v in _flatten(run.parameters).items() if k not in covered}
    return {**known, **rest}


def axes(spec: Mapping[str, Any], runs: Sequence[Run]) -> list[Axis]:
    """The parallel-coordinates axes: each parameter whose runs differ (a constant says
    nothing), then the metric."""
    by_run = {run.name: run_parameters(spec, run) for run in runs}
    try:
        declared = {p.key: p for p in space.parse(spec.get("parameters") or {})}
    except space.SearchSpaceError:
        declared = {}
    out: list[Axis] = []
    for key, label, kind in flat_parameters(spec, runs):
        values = {name: flat[key] for name, flat in by_run.items() if key in flat}
        if len({space.canonical(v) for v in values.values()}) < 2 and len(runs) > 1:
            continue
        numeric = bool(values) and all(_is_number(v) for v in values.values())
        if numeric and kind != "categorical":
            positive = all(v > 0 for v in values.values())
            out.append(Axis(key, label, kind, values, log=kind in _LOG_KINDS and positive))
            continue
        order: list[str] = []
        param = declared.get(key)
        if param is not None and param.kind == "categorical":
            order = [value_text(v) for v in param["values"]]
        texts = sorted({value_text(v) for v in values.values()} - set(order))
        if numeric:
            texts = sorted(texts, key=float)
        out.append(Axis(key, label, kind, values, choices=[*order, *texts]))
    metric = (spec.get("metric") or {}).get("name")
    if metric:
        values = {run.name: run.metrics[metric] for run in runs if _is_number(run.metrics.get(metric))}
        out.append(Axis(metric, metric, "metric", values))
    return out


def best_runs(spec: Mapping[str, Any], runs: Sequence[Run], count: int = BEST_SHOWN) -> list[Run]:
    """The best runs by the metric and its goal; failed and crashed runs never count, as for
    status.bestRun."""
    metric = spec.get("metric") or {}
    name = metric.get("name")
    if not name:
        return []
    sign = -1.0 if metric.get("goal") == "maximize" else 1.0
    ranked = [r for r in runs if _is_number(r.metrics.get(name)) and r.state not in ("Failed", "Crashed")]
    return sorted(ranked, key=lambda r: (sign * r.metrics[name], r.number))[:count]


def best_so_far(spec: Mapping[str, Any], runs: Sequence[Run]) -> list[tuple[int, float]]:
    """(run number, best metric up to it) at each run that improved on the runs before it."""
    metric = spec.get("metric") or {}
    name = metric.get("name")
    maximize = metric.get("goal") == "maximize"
    out: list[tuple[int, float]] = []
    for run in sorted(runs, key=lambda r: r.number):
        value = run.metrics.get(name) if name else None
        if not _is_number(value) or run.state in ("Failed", "Crashed"):
            continue
        assert value is not None
        if not out or (value > out[-1][1] if maximize else value < out[-1][1]):
            out.append((run.number, float(value)))
    return out


def state_counts(status: Mapping[str, Any], runs: Sequence[Run]) -> dict[str, int]:
    """Runs by state: the status's counts (they include folded runs) where it has them."""
    counts = status.get("runs") or {}
    if counts.get("total"):
        return {state: int(counts.get(state.lower(), 0)) for state in RUN_STATES}
    return {state: sum(1 for r in runs if r.state == state) for state in RUN_STATES}


# ---------------------------------------------------------------------------------------------
# Drawing.


def _color(fraction: float) -> str:
    """The scale's colour at 0 (worst) .. 1 (best)."""
    fraction = min(1.0, max(0.0, fraction)) * (len(_SCALE) - 1)
    low = math.floor(fraction)
    high = min(low + 1, len(_SCALE) - 1)
    t = fraction - low
    a, b = _SCALE[low], _SCALE[high]
    channels = [round(int(a[i : i + 2], 16) * (1 - t) + int(b[i : i + 2], 16) * t) for i in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in channels)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round numbers between low and high for an axis."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


class _Scale:
    """A numeric axis: value -> pixel, linear or logarithmic, with its ticks."""

    def __init__(self, values: Sequence[float], top: float, bottom: float, log: bool = False) -> None:
        self.log = log and all(v > 0 for v in values)
        self.top, self.bottom = top, bottom
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
        if self.log:
            low, high = math.log10(low), math.log10(high)
        if high == low:
            low, high = low - 1, high + 1
        pad = (high - low) * 0.05
        self.low, self.high = low - pad, high + pad

    def __call__(self, value: float) -> float:
        v = math.log10(value) if self.log else value
        return self.bottom - (v - self.low) / (self.high - self.low) * (self.bottom - self.top)

    def ticks(self) -> list[tuple[float, str]]:
        if self.log:
            exponents = range(math.ceil(self.low), math.floor(self.high) + 1)
            return [(self(10.0**e), f"1e{e}") for e in exponents]
        return [(self(t), f"{t:.4g}") for t in nice_ticks(self.low, self.high)]


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _run_title(run: Run, spec: Mapping[str, Any]) -> str:
    metric = (spec.get("metric") or {}).get("name")
    value = run.metrics.get(metric) if metric else None
    parts = [f"{run.name} ({run.state})"]
    if _is_number(value):
        parts.append(f"{metric}={value_text(value)}")
    parts.append(", ".join(f"{k}={value_text(v)}" for k, v in _flatten(run.parameters).items()))
    if run.reason:
        parts.append(f"reason: {run.reason}")
    return "\n".join(p for p in parts if p)


def _metric_fraction(spec: Mapping[str, Any], runs: Sequence[Run]) -> dict[str, float]:
    """Each run's place from the worst metric (0) to the best (1), for its colour."""
    metric = spec.get("metric") or {}
    name = metric.get("name")
    values = {r.name: r.metrics[name] for r in runs if name and _is_number(r.metrics.get(name))}
    if not values:
        return {}
    low, high = min(values.values()), max(values.values())
    span = (high - low) or 1.0
    maximize = metric.get("goal") == "maximize"
    return {k: ((v - low) / span if maximize else (high - v) / span) for k, v in values.items()}


MISSING_GAP = 22  # pixels below an axis where runs without a value sit


def parallel_coordinates(spec: Mapping[str, Any], runs: Sequence[Run]) -> str:
    chart_axes = axes(spec, runs)
    if not runs or not chart_axes:
        return "<p>No runs to draw yet.</p>"
    gap = 150
    left, top, bottom = 70, 40, 300
    width = left * 2 + gap * max(1, len(chart_axes) - 1)
    height = bottom + MISSING_GAP + 30
    fractions = _metric_fraction(spec, runs)
    positions: list[dict[str, float]] = []  # per axis: run name -> y
    parts: list[str] = []
    for index, axis in enumerate(chart_axes):
        x = left + index * gap
        ys: dict[str, float] = {}
        ticks: list[tuple[float, str]]
        if axis.choices is not None:
            count = len(axis.choices)
            slot = {
                text: (bottom - (i + 0.5) * (bottom - top) / count) for i, text in enumerate(axis.choices)
            }
            ys = {name: slot[value_text(v)] for name, v in axis.values.items()}
            ticks = [(y, text if len(text) <= 18 else text[:17] + "…") for text, y in slot.items()]
        else:
            scale = _Scale([float(v) for v in axis.values.values()], top, bottom, axis.log)
            ys = {name: scale(float(v)) for name, v in axis.values.items()}
            ticks = scale.ticks()
        positions.append(ys)
        label = (
            axis.label
            if axis.kind != "metric"
            else f"{axis.label} ({(spec.get('metric') or {}).get('goal', 'minimize')})"
        )
        parts.append(
            f'<g class="axis" data-axis="{_e(axis.key)}"><line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}"/>'
            f'<text class="axis-label" x="{x}" y="{top - 16}">{_e(label)}</text>'
            + "".join(
                f'<text class="tick" x="{x - 6}" y="{y + 4:.1f}">{_e(t)}</text>'
                f'<line class="tickmark" x1="{x - 3}" y1="{y:.1f}" x2="{x}" y2="{y:.1f}"/>'
                for y, t in ticks
            )
            + f'<text class="tick missing" x="{x - 6}" y="{bottom + MISSING_GAP + 4}">none</text></g>'
        )
    lines = []
    # The best runs drawn last, on top of the others; runs without the metric first, below all.
    for run in sorted(runs, key=lambda r: (r.name in fractions, fractions.get(r.name, 0.0))):
        points = []
        for index, ys in enumerate(positions):
            y = ys.get(run.name, bottom + MISSING_GAP)
            points.append(f"{left + index * gap},{y:.1f}")
        if len(points) == 1:  # one axis: a short stroke across it
            px, py = points[0].split(",")
            points = [f"{float(px) - 20},{py}", f"{float(px) + 20},{py}"]
        fraction = fractions.get(run.name)
        color = _color(fraction) if fraction is not None else "#9e9e9e"
        dashed = ' stroke-dasharray="4 3"' if run.state not in ("Finished", "Killed") else ""
        lines.append(
            f'<polyline class="run" data-run="{_e(run.name)}" data-state="{_e(run.state)}" '
            f'points="{" ".join(points)}" stroke="{color}"{dashed}><title>{_e(_run_title(run, spec))}</title></polyline>'
        )
    return (
        f'<svg id="parallel" class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        f'<g class="runs">{"".join(lines)}</g>{"".join(parts)}</svg>'
    )


def metric_chart(spec: Mapping[str, Any], runs: Sequence[Run]) -> str:
    """Each run's metric by run number, and the best so far as a step line; a run without the
    metric is a mark on the strip below."""
    name = (spec.get("metric") or {}).get("name")
    if not name:
        return "<p>The sweep has no metric.</p>"
    if not runs:
        return "<p>No runs yet.</p>"
    left, top, bottom, right = 70, 20, 260, 30
    width = max(480, min(1200, left + right + 12 * len(runs)))
    height = bottom + 60
    numbers = [r.number for r in runs]
    x_low, x_high = min(numbers), max(numbers)
    span = max(1, x_high - x_low)

    def x_of(number: int) -> float:
        return left + 10 + (number - x_low) / span * (width - left - right - 20)

    values = [float(r.metrics[name]) for r in runs if _is_number(r.metrics.get(name))]
    scale = _Scale(values or [0.0, 1.0], top, bottom)
    parts = [
        f'<line class="frame" x1="{left}" y1="{bottom}" x2="{width - right}" y2="{bottom}"/>',
        f'<line class="frame" x1="{left}" y1="{top}" x2="{left}" y2="{bottom}"/>',
        f'<text class="axis-label" x="{(width) / 2}" y="{height - 4}">run number</text>',
        f'<text class="tick missing" x="{left - 6}" y="{bottom + 34}">no {_e(name)}</text>',
    ]
    for y, text in scale.ticks():
        parts.append(f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}">{_e(text)}</text>')
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}"/>')
    for t in nice_ticks(x_low, x_high, 8):
        if float(t).is_integer():
            parts.append(f'<text class="xtick" x="{x_of(int(t)):.1f}" y="{bottom + 16}">{int(t)}</text>')
    best = best_so_far(spec, runs)
    if best:
        # A step line: level until the next run that improved, then down (or up) to it.
        path = [f"M{x_of(best[0][0]):.1f},{scale(best[0][1]):.1f}"]
        path += [f"H{x_of(number):.1f}V{scale(value):.1f}" for number, value in best[1:]]
        path.append(f"H{x_of(x_high):.1f}")
        parts.append(f'<path id="best-so-far" d="{" ".join(path)}"><title>best so far</title></path>')
    for run in runs:
        value = run.metrics.get(name)
        color = STATE_COLORS.get(run.state, "#616161")
        title = _e(_run_title(run, spec))
        if _is_number(value):
            assert value is not None
            parts.append(
                f'<circle class="point" data-run="{_e(run.name)}" cx="{x_of(run.number):.1f}" cy="{scale(float(value)):.1f}" '
                f'r="4" fill="{color}"><title>{title}</title></circle>'
            )
        else:
            parts.append(
                f'<rect class="point none" data-run="{_e(run.name)}" x="{x_of(run.number) - 3:.1f}" y="{bottom + 27}" '
                f'width="6" height="10" fill="{color}"><title>{title}</title></rect>'
            )
    return (
        f'<svg id="metric" class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        f"{''.join(parts)}</svg>"
    )


def bands_chart(spec: Mapping[str, Any], runs: Sequence[Run]) -> str:
    """Hyperband: each run's metric at the bands it reached (what early termination judged)."""
    config = spec.get("earlyTerminate")
    banded = [r for r in runs if r.bands]
    if not config:
        return "<p>No early termination: the sweep has no hyperband bands.</p>"
    if not banded:
        return "<p>No run has reached a hyperband band yet.</p>"
    try:
        steps = hyperband.bands(config)
    except (KeyError, TypeError, ValueError):
        steps = []
    most = max(len(r.bands or []) for r in banded)
    steps = (steps + list(range(len(steps) + 1, most + 1)))[:most] if len(steps) < most else steps[:most]
    left, top, bottom = 70, 20, 240
    gap = 120
    width = left * 2 + gap * max(1, most - 1)
    height = bottom + 50
    scale = _Scale([v for r in banded for v in r.bands or []], top, bottom)
    parts = [f'<line class="frame" x1="{left}" y1="{top}" x2="{left}" y2="{bottom}"/>']
    for y, text in scale.ticks():
        parts.append(f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}">{_e(text)}</text>')
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{width - left}" y2="{y:.1f}"/>')
    for i, step in enumerate(steps):
        parts.append(f'<text class="xtick" x="{left + i * gap}" y="{bottom + 16}">step {step}</text>')
    parts.append(f'<text class="axis-label" x="{width / 2}" y="{height - 4}">hyperband band (step)</text>')
    fractions = _metric_fraction(spec, runs)
    for run in banded:
        points = [f"{left + i * gap},{scale(v):.1f}" for i, v in enumerate(run.bands or [])]
        if len(points) == 1:  # one band: a short stroke at it
            px, py = points[0].split(",")
            points.append(f"{float(px) + 8},{py}")
        fraction = fractions.get(run.name)
        color = (
            STATE_COLORS["Killed"]
            if run.state == "Killed"
            else (_color(fraction) if fraction is not None else "#9e9e9e")
        )
        parts.append(
            f'<polyline class="band-run" data-run="{_e(run.name)}" data-state="{_e(run.state)}" '
            f'points="{" ".join(points)}" stroke="{color}"><title>{_e(_run_title(run, spec))}</title></polyline>'
        )
    return (
        f'<svg id="bands" class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        f"{''.join(parts)}</svg>"
    )


def states_chart(counts: Mapping[str, int]) -> str:
    shown = [(state, n) for state, n in counts.items() if n]
    if not shown:
        return "<p>No runs yet.</p>"
    most = max(n for _, n in shown)
    row, left, bar = 26, 90, 360
    height = row * len(shown) + 10
    parts = []
    for i, (state, n) in enumerate(shown):
        y = 5 + i * row
        length = max(2.0, n / most * bar)
        parts.append(
            f'<g class="state" data-state="{_e(state)}"><text class="tick" x="{left - 8}" y="{y + 15}">{_e(state)}</text>'
            f'<rect x="{left}" y="{y}" width="{length:.1f}" height="{row - 8}" fill="{STATE_COLORS.get(state, "#616161")}"/>'
            f'<text x="{left + length + 6:.1f}" y="{y + 15}">{n}</text></g>'
        )
    return f'<svg id="states" class="chart" width="{left + bar + 60}" height="{height}" role="img">{"".join(parts)}</svg>'


def runs_table(spec: Mapping[str, Any], runs: Sequence[Run], table_id: str, ranked: bool) -> str:
    metric = (spec.get("metric") or {}).get("name")
    keys = [(key, label) for key, label, _ in flat_parameters(spec, runs)]
    head = (
        (["#"] if ranked else [])
        + ["run", "state"]
        + ([metric] if metric else [])
        + [label for _, label in keys]
    )
    head.append("why")
    rows = []
    for i, run in enumerate(runs, 1):
        flat = run_parameters(spec, run)
        cells = [str(i)] if ranked else []
        cells += [run.name, run.state + (" (Job deleted)" if run.job_deleted else "")]
        if metric:
            value = run.metrics.get(metric)
            cells.append(value_text(value) if _is_number(value) else "")
        cells += [value_text(flat[key]) if key in flat else "" for key, _ in keys]
        why = run.reason or ""
        if run.exit_code is not None:
            why += f" (exit {run.exit_code})"
        if run.message:
            why += f": {' '.join(run.message.split())}"
        cells.append(why if len(why) <= 120 else why[:117] + "...")
        rows.append(f'<tr data-run="{_e(run.name)}">' + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    return (
        f'<table id="{table_id}"><thead><tr>{"".join(f"<th>{_e(h)}</th>" for h in head)}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#212121}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.meta{color:#555}.chart{display:block;overflow:visible;max-width:100%;height:auto}
svg text{font:11px system-ui,sans-serif;fill:#424242}
.axis line,.frame,.tickmark{stroke:#616161;stroke-width:1}
.axis-label{text-anchor:middle;font-weight:600}.tick{text-anchor:end}.xtick{text-anchor:middle}
.missing{fill:#9e9e9e;font-style:italic}.grid{stroke:#eee}
.run,.band-run{fill:none;stroke-width:1.6;opacity:.75}
#best-so-far{fill:none;stroke:#d81b60;stroke-width:2}
.hl .run,.hl .band-run,.hl .point{opacity:.12}
.hl .run.on,.hl .band-run.on,.hl .point.on{opacity:1;stroke-width:3}
table{border-collapse:collapse;margin-top:4px}th,td{border-bottom:1px solid #e0e0e0;padding:3px 10px;text-align:left}
th{background:#fafafa}tr.on td{background:#fff3c4}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
"""

# A run hovered anywhere (a line, a point, a table row) is highlighted everywhere.
_SCRIPT = """
(function(){
  var body=document.body;
  function mark(name,on){
    body.classList.toggle('hl',on);
    document.querySelectorAll('[data-run]').forEach(function(el){
      el.classList.toggle('on',on&&el.getAttribute('data-run')===name);
    });
  }
  document.querySelectorAll('[data-run]').forEach(function(el){
    el.addEventListener('mouseenter',function(){mark(el.getAttribute('data-run'),true);});
    el.addEventListener('mouseleave',function(){mark('',false);});
  });
})();
"""


def render(sweep: Mapping[str, Any], runs: Sequence[Run], generated: str) -> str:
    """The whole page."""
    meta = sweep.get("metadata") or {}
    spec = sweep.get("spec") or {}
    status = sweep.get("status") or {}
    metric = spec.get("metric") or {}
    title = f"Sweep {meta.get('namespace', '')}/{meta.get('name', '')}"
    try:
        described = space.descriptions(spec.get("parameters") or {})
    except space.SearchSpaceError as exc:
        described = [f"invalid: {exc}"]
    counts = state_counts(status, runs)
    best = best_runs(spec, runs)
    folded = status.get("foldedRuns") or {}
    summary = [
        f"phase <b>{_e(status.get('phase', 'Pending'))}</b> (spec.state {_e(spec.get('state', 'running'))})",
        f"method {_e(spec.get('method', ''))}",
    ]
    if metric.get("name"):
        summary.append(f"metric {_e(metric['name'])}, {_e(metric.get('goal', 'minimize'))}")
    summary.append(f"{len(runs)} runs drawn")
    folded_note = (
        f'<p class="meta">Older runs {_e(folded["numbers"])} are folded in the status (counted, not listed), '
        "so they are not drawn.</p>"
        if folded.get("numbers")
        else ""
    )
    legend = "".join(
        f'<span><i style="background:{color}"></i>{state}</span>' for state, color in STATE_COLORS.items()
    )
    scale_legend = (
        f'<p class="meta">Lines are coloured by {_e(metric.get("name"))} from worst '
        f'<i style="display:inline-block;width:60px;height:8px;background:linear-gradient(90deg,{",".join(_SCALE)})"></i> best; '
        "grey: no value; dashed: the run did not finish. Hover a run to follow it through every chart.</p>"
        if metric.get("name")
        else ""
    )
    sections = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">{" · ".join(summary)} · generated {_e(generated)}</p>',
        f'<p class="meta">Parameters: {_e("; ".join(described))}</p>',
        folded_note,
        "<h2>Parameters against the metric</h2>",
        scale_legend,
        parallel_coordinates(spec, runs),
        f"<h2>{_e(metric.get('name', 'Metric'))} per run, and the best so far</h2>",
        f'<p class="legend">{legend}<span><i style="background:#d81b60"></i>best so far</span></p>',
        metric_chart(spec, runs),
        "<h2>Hyperband bands</h2>",
        bands_chart(spec, runs),
        "<h2>Runs by state</h2>",
        states_chart(counts),
        f"<h2>Best runs (top {BEST_SHOWN})</h2>",
        runs_table(spec, best, "best", ranked=True) if best else "<p>No run has reported the metric yet.</p>",
        f"<details><summary>Every run ({len(runs)})</summary>{runs_table(spec, runs, 'all', ranked=False)}</details>",
    ]
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{''.join(sections)}<script>{_SCRIPT}</script></body></html>\n"
    )
