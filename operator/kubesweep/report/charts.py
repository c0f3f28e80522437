"""The report's charts, each one inline SVG drawn from the runs: the parameters against the
metric (parallel coordinates), the metric per run with the best so far, hyperband's bands and the
runs by state. Every run is marked with `data-run`, which the page's script follows on hover.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from kubesweep.report.data import Run, axes, best_so_far, flatten, is_number, value_text
from kubesweep.search import hyperband

STATE_COLORS = {
    "Queued": "#9e9e9e",
    "Pending": "#bdbdbd",
    "Running": "#1e88e5",
    "Finished": "#43a047",
    "Failed": "#e53935",
    "Crashed": "#8e24aa",
    "Killed": "#fb8c00",
}
# Stops of the colour scale from the worst metric to the best (viridis).
SCALE = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")


def _color(fraction: float) -> str:
    """The scale's colour at 0 (worst) .. 1 (best)."""
    fraction = min(1.0, max(0.0, fraction)) * (len(SCALE) - 1)
    low = math.floor(fraction)
    high = min(low + 1, len(SCALE) - 1)
    t = fraction - low
    a, b = SCALE[low], SCALE[high]
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


def escape(text: Any) -> str:
    """Text safe in HTML, in an attribute's quotes too."""
    return html.escape(str(text), quote=True)


_e = escape  # short, for the markup below


def _run_title(run: Run, spec: Mapping[str, Any]) -> str:
    metric = (spec.get("metric") or {}).get("name")
    value = run.metrics.get(metric) if metric else None
    parts = [f"{run.name} ({run.state})"]
    if is_number(value):
        parts.append(f"{metric}={value_text(value)}")
    parts.append(", ".join(f"{k}={value_text(v)}" for k, v in flatten(run.parameters).items()))
    if run.reason:
        parts.append(f"reason: {run.reason}")
    return "\n".join(p for p in parts if p)


def _metric_fraction(spec: Mapping[str, Any], runs: Sequence[Run]) -> dict[str, float]:
    """Each run's place from the worst metric (0) to the best (1), for its colour."""
    metric = spec.get("metric") or {}
    name = metric.get("name")
    values = {r.name: r.metrics[name] for r in runs if name and is_number(r.metrics.get(name))}
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

    values = [float(r.metrics[name]) for r in runs if is_number(r.metrics.get(name))]
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
        if is_number(value):
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
