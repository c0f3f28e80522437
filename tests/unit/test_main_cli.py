"""`kubesweep`: its version, and help on every command and argument."""

from __future__ import annotations

import re
import subprocess
import sys

from kubesweep import __version__


def kubesweep(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubesweep.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def undocumented(help_text: str) -> list[str]:
    """The arguments argparse lists without a help text: an entry line with nothing after the
    argument itself, and no indented continuation below it."""
    lines = help_text.splitlines()
    missing = []
    for i, line in enumerate(lines):
        entry = re.match(r"^  (\S.*?)(\s{2,}\S.*)?$", line)
        if not entry or entry.group(2):
            continue
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if not following.startswith(" " * 8):
            missing.append(entry.group(1))
    return missing


def test_version() -> None:
    done = kubesweep("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"kubesweep {__version__}"


def test_every_command_and_argument_has_help() -> None:
    top = kubesweep("--help").stdout
    for command in ("run", "crd", "sandbox"):
        assert re.search(rf"^    {command}\s+\S", top, re.MULTILINE), command
        text = kubesweep(command, "--help").stdout
        assert undocumented(text.split("options:", 1)[1]) == [], command
