"""kubesweep's hook for W&B training scripts: a run's pod gets this file as `sitecustomize.py` on
its PYTHONPATH (Sweep `spec.wandb`, see wandb_pod). When the script imports wandb, what it logs
(`wandb.log`, `run.log`, `run.summary[...] = ...`) is also printed as kubesweep's metric lines,

    kubesweep: step=3 val_loss=0.41 acc=0.9

which the operator reads from the pod's log (the last value of each name; lines with a step feed
hyperband). Steps follow W&B's: `step=` when given, else the run's own counter that each committed
log advances. Only numbers are printed (nested dictionaries as dotted names); what wandb itself does
is unchanged, and nothing here can fail the script. An image's own sitecustomize still runs.

It runs inside the user's image, under their Python: standard library only, Python 3.7 syntax.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import math
import numbers
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

PREFIX = "kubesweep:"
_NAME = re.compile(r"[A-Za-z_][\w./-]*\Z")
_local = threading.local()  # inside a hooked log: its summary update is not printed again
_steps: dict[int, int] = {}  # id(run) -> W&B's step of the run's next log


def number(value: Any) -> float | None:
    """A finite number, numpy scalar or 0-d tensor as a float; None for anything else."""
    try:
        if isinstance(value, bool):
            return None
        if isinstance(value, numbers.Real):
            x = float(value)
        elif getattr(value, "shape", None) == () and hasattr(value, "item"):
            return number(value.item())
        else:
            return None
    except Exception:
        return None
    return x if math.isfinite(x) else None


def pairs(data: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    """The numeric leaves of a logged dictionary, nested keys joined with dots as W&B names them."""
    if not hasattr(data, "items"):
        return
    for key, value in list(data.items()):
        name = f"{prefix}{key}"
        if hasattr(value, "items") and not hasattr(value, "shape"):
            yield from pairs(value, name + ".")
            continue
        x = number(value)
        # `step` is kubesweep's own key on the line; names it cannot read are left out.
        if x is not None and name != "step" and _NAME.match(name):
            yield name, x


def emit(found: list[tuple[str, float]], step: int | None) -> None:
    if not found:
        return
    head = [PREFIX] + ([f"step={step}"] if step is not None else [])
    line = " ".join(head + [f"{name}={value!r}" for name, value in found]) + "\n"
    with contextlib.suppress(OSError):
        os.write(1, line.encode())  # one write: the line stays whole beside the script's output


def step_of(run: Any, step: Any, commit: Any) -> int | None:
    """The W&B step a log goes to (None: W&B drops it, a step below the current one), advancing
    the run's counter as wandb's Run._log does."""
    current = _steps.get(id(run), 0)
    used = current
    if step is not None:
        used = int(step)
        if used < current:
            return None
        current = used
    if (step is None and commit is None) or commit:
        current += 1
    _steps[id(run)] = current
    return used


def _hooked_log(original: Callable[..., Any]) -> Callable[..., Any]:
    def log(self: Any, data: Any, *args: Any, **kwargs: Any) -> Any:
        _local.inside = True
        try:
            result = original(self, data, *args, **kwargs)
        finally:
            _local.inside = False
        try:
            step = kwargs.get("step", args[0] if args else None)
            commit = kwargs.get("commit", args[1] if len(args) > 1 else None)
            used = step_of(self, step, commit)
            if used is not None:
                emit(list(pairs(data)), used)
        except Exception:
            pass
        return result

    log._kubesweep = True  # type: ignore[attr-defined]
    return log


def _summary_path(summary: Any) -> str:
    """The dotted path of a nested summary dictionary (wandb's SummarySubDict) from the root."""
    keys: list[str] = []
    node = summary
    while node is not None and vars(node).get("_parent_key") is not None:
        keys.insert(0, str(vars(node)["_parent_key"]))
        node = vars(node).get("_parent")
    return "".join(k + "." for k in keys)


def _hooked_summary(original: Callable[..., Any], nested: bool = True) -> Callable[..., Any]:
    def update(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        try:
            if not getattr(_local, "inside", False):
                data = dict(args[0]) if len(args) == 1 and hasattr(args[0], "items") else dict(kwargs)
                if len(args) == 2:  # __setitem__(key, value)
                    data = {args[0]: args[1]}
                emit(list(pairs(data, _summary_path(self) if nested else "")), None)
        except Exception:
            pass
        return result

    update._kubesweep = True  # type: ignore[attr-defined]
    return update


def _patch(owner: Any, name: str, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    original = owner.__dict__.get(name)
    if original is not None and not getattr(original, "_kubesweep", False):
        setattr(owner, name, wrap(original))


def install() -> None:
    """Wraps wandb's logging; called once wandb is imported."""
    from wandb.sdk import wandb_run, wandb_summary

    _patch(wandb_run.Run, "log", _hooked_log)
    _patch(wandb_summary.SummaryDict, "update", _hooked_summary)
    try:  # mode disabled: a run of its own, whose summary is a plain dict
        from wandb.sdk.lib import disabled, noop_run

        _patch(noop_run.NoopRun, "log", _hooked_log)
        setitem = _hooked_summary(dict.__setitem__, nested=False)
        summary: Any = disabled.SummaryDisabled
        summary.__setitem__ = summary.__setattr__ = setitem
        summary.update = _hooked_summary(dict.update, nested=False)
    except ImportError:
        pass


class _Finder:
    """Installs the hook right after `import wandb` has run (no cost to scripts without wandb)."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "wandb":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                loader: Any = spec.loader
                loader.exec_module = _installing(loader.exec_module)
                return spec
            if spec is not None:
                return spec
        return None


def _installing(run: Callable[[Any], None]) -> Callable[[Any], None]:
    def exec_module(module: Any) -> None:
        run(module)
        try:
            install()
        except Exception as exc:
            sys.stderr.write(f"kubesweep: wandb's metrics are not recorded ({exc!r})\n")

    return exec_module


def _chain() -> None:
    """Runs the image's own sitecustomize, which this file hides on sys.path."""
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


if __name__ == "sitecustomize":
    sys.meta_path.insert(0, _Finder())  # type: ignore[arg-type,unused-ignore]
    try:
        _chain()
    except Exception as exc:
        sys.stderr.write(f"kubesweep: the image's sitecustomize failed: {exc!r}\n")
