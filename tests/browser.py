"""A page opened in a real headless browser (Debian's chromium), driven over the DevTools
protocol through a pipe (`--remote-debugging-pipe`: no port, no driver, no library).

`open_page(path)` loads a file and returns what a person's browser would have met: uncaught
exceptions, console errors, every request for something other than the file itself, and a way
to evaluate JavaScript in the loaded page.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
]
NO_CHROMIUM = (
    f"no {CHROMIUM}: the report's browser test needs Debian's chromium (apt-get install -y chromium; "
    ".ci/run installs it)"
)


REQUIRE = "KUBESWEEP_REQUIRE_BROWSER"  # set by .ci/run: there a missing chromium fails, never skips


def available() -> bool:
    return CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)


def require() -> None:
    """Skips the calling test without chromium, with the reason; fails instead where
    KUBESWEEP_REQUIRE_BROWSER is set (CI), since a skipped test there tests nothing."""
    import pytest

    if available():
        return
    if os.environ.get(REQUIRE):
        pytest.fail(f"{NO_CHROMIUM}; {REQUIRE} is set")
    pytest.skip(NO_CHROMIUM)


@dataclass
class Page:
    errors: list[str] = field(default_factory=list)  # uncaught exceptions and console errors
    requests: list[str] = field(default_factory=list)  # every URL asked for but the page itself
    _session: Any = None

    def evaluate(self, expression: str) -> Any:
        result = self._session.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")


class _Pipe:
    """DevTools messages over chromium's fds 3 (in) and 4 (out), each a JSON text and a NUL."""

    def __init__(self, to_browser: int, from_browser: int, deadline: float) -> None:
        self.out = os.fdopen(to_browser, "wb", buffering=0)
        self.inp = os.fdopen(from_browser, "rb", buffering=0)
        self.buffer = b""
        self.next_id = 0
        self.deadline = deadline
        self.session_id: str | None = None
        self.events: list[dict[str, Any]] = []

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            if time.monotonic() > self.deadline:
                raise TimeoutError("chromium did not answer in time")
            chunk = self.inp.read(65536)
            if not chunk:
                raise ConnectionError("chromium closed its DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return dict(json.loads(message))

    def call(
        self, method: str, params: dict[str, Any] | None = None, browser: bool = False
    ) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session_id and not browser:
            message["sessionId"] = self.session_id
        self.out.write(json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return dict(reply.get("result") or {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method: str) -> dict[str, Any]:
        while True:
            for event in self.events:
                if event["method"] == method:
                    return event
            self.events.append(self._read())


@contextmanager
def open_page(path: Path, timeout: float = 60) -> Iterator[Page]:
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()
    profile = tempfile.mkdtemp(prefix="kubesweep-chromium-")

    def child_fds() -> None:  # chromium reads fd 3 and writes fd 4
        # Moved above 10 first: either pipe end may itself be fd 3 or 4.
        high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
        high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
        os.dup2(high_r, 3)
        os.dup2(high_w, 4)

    proc = subprocess.Popen(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=child_fds,
        pass_fds=(3, 4),  # kept open after child_fds (subprocess closes the others)
    )
    os.close(to_browser_r)
    os.close(from_browser_w)
    pipe = _Pipe(to_browser_w, from_browser_r, time.monotonic() + timeout)
    try:
        target = pipe.call("Target.createTarget", {"url": "about:blank"}, browser=True)["targetId"]
        pipe.session_id = pipe.call(
            "Target.attachToTarget", {"targetId": target, "flatten": True}, browser=True
        )["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            pipe.call(f"{domain}.enable")
        pipe.events.clear()
        url = path.resolve().as_uri()
        pipe.call("Page.navigate", {"url": url})
        pipe.wait_event("Page.loadEventFired")
        page = Page(_session=pipe)
        page.evaluate("1")  # a round trip: the events of the load have arrived
        for event in pipe.events:
            method, params = event["method"], event.get("params") or {}
            if method == "Runtime.exceptionThrown":
                page.errors.append(json.dumps(params["exceptionDetails"]))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                page.errors.append(json.dumps(params.get("args")))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                page.errors.append(params["entry"].get("text", ""))
            elif method == "Network.requestWillBeSent" and params["request"]["url"] != url:
                page.requests.append(params["request"]["url"])
        yield page
    finally:
        with suppress(OSError, ConnectionError, TimeoutError, AssertionError):
            pipe.call("Browser.close", browser=True)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        pipe.out.close()
        pipe.inp.close()
        shutil.rmtree(profile, ignore_errors=True)
