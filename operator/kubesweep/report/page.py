"""The report's page: the sweep's summary, the charts, the tables of the best runs and of every
run, a style sheet and the few lines of script that highlight a hovered run everywhere; one
self-contained HTML document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubesweep.report.charts import (
    SCALE,
    STATE_COLORS,
    bands_chart,
    metric_chart,
    parallel_coordinates,
    states_chart,
)
from kubesweep.report.charts import escape as _e
from kubesweep.report.data import (
    BEST_SHOWN,
    Run,
    again_text,
    best_runs,
    flat_parameters,
    is_number,
    run_parameters,
    state_counts,
    value_text,
)
from kubesweep.search import space


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
        notes = [
            *(["Job deleted"] if run.job_deleted else []),
            *([again_text(run.again)] if run.again else []),
        ]
        cells += [run.name, run.state + (f" ({'; '.join(notes)})" if notes else "")]
        if metric:
            value = run.metrics.get(metric)
            cells.append(value_text(value) if is_number(value) else "")
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
        f'<i style="display:inline-block;width:60px;height:8px;background:linear-gradient(90deg,{",".join(SCALE)})"></i> best; '
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
