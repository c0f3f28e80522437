"""The Makefile's two front-door targets on a fresh clone (issue 16): `make sandbox` installs only
what the sandbox needs and says so, `make test` installs the test tools, and neither target's
setup stands in for the other's. Read from `make -n` (what make would run) on a venv of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .k8s import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make")


def planned(target: str, venv: Path) -> list[str]:
    """The commands `make TARGET` would run with its venv at `venv`."""
    # Without make's own variables: under `make test` a nested make would print its directory.
    env = {
        k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")
    }
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", target, f"VENV={venv}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.splitlines()


def installs(commands: list[str]) -> list[str]:
    return [c for c in commands if "pip install" in c and " -e " in c and not c.startswith("echo")]


def test_make_sandbox_on_a_fresh_clone_installs_the_sandbox_extra_only_and_shows_it(tmp_path: Path) -> None:
    commands = planned("sandbox", tmp_path / "venv")
    assert any(c.startswith("python3 -m venv") or " -m venv " in c for c in commands), commands
    [install] = installs(commands)
    assert "'.[sandbox]'" in install and ".[test]" not in install, install
    assert " -q" not in install, install  # pip's own progress shows
    assert any(c.startswith("echo") and "sandbox" in c for c in commands), commands  # a line of what it does
    assert commands[-1].endswith("kubesweep sandbox examples/quickstart.yaml"), commands


def test_a_venv_set_up_by_make_sandbox_gets_the_test_extra_from_make_test(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    newer = (ROOT / "pyproject.toml").stat().st_mtime + 10
    sandbox_stamp = venv / ".installed-sandbox"
    sandbox_stamp.touch()
    os.utime(sandbox_stamp, (newer, newer))
    assert installs(planned("sandbox", venv)) == []  # set up already
    assert any("'.[test]'" in c for c in installs(planned("lint", venv)))
    # And once `make test` has set it up, `make sandbox` has nothing to install either.
    test_stamp = venv / ".installed"
    test_stamp.touch()
    os.utime(test_stamp, (newer, newer))
    assert installs(planned("sandbox", venv)) == []
