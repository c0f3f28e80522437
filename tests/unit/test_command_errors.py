"""The `kubesweep` command's first walls, each one line instead of a traceback (issue 16): the
operator with no cluster to connect to, and the sandbox without its extra installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs `kubesweep` as an install without the sandbox extra would: its packages cannot be imported.
WITHOUT_EXTRA = """
import importlib.abc, sys
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("kmock", "aiohttp", "jsonpatch", "cryptography", "cel"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Missing())
from kubesweep.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_run_without_a_kubeconfig_or_a_service_account_exits_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "KUBERNETES_"))}
    env["HOME"] = str(tmp_path)  # no ~/.kube/config
    done = subprocess.run(
        [sys.executable, "-m", "kubesweep.main", "run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,  # kopf would retry its login every 60 s instead of exiting
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("kubesweep run: no cluster to connect to:"), lines[0]
    assert "kubeconfig" in lines[0]


def test_sandbox_without_the_extra_names_the_extra_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRA, "sandbox", str(ROOT / "examples" / "quickstart.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("kubesweep sandbox: needs the sandbox extra"), lines[0]
    assert lines[0].endswith("pip install 'kubesweep[sandbox]'"), lines[0]
