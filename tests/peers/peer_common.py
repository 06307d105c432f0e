"""Shared plumbing for the real-peer MCP test clients (official MCP Python SDK).

Each client runs a fixed list of steps against an MCP stdio server, records every
step's outcome in a JSON-serialisable dict, never hangs (every step is bounded by
a deadline) and keeps stdout silent: diagnostics go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
import warnings
from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import Any

import anyio
from mcp import MCPDeprecationWarning

# The SDK marks 2025-era methods (logging/setLevel, resources/subscribe, roots) as
# deprecated in favour of the 2026-07-28 revision; they are exactly what we test.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def split_command(argv: list[str], usage: str) -> tuple[list[str], list[str]]:
    """Split `OPTIONS -- CMD [ARGS...]` at the first `--` (no command with `--url`)."""
    if "--" not in argv:
        if any(a == "--url" or a.startswith("--url=") for a in argv):
            return argv, []
        log(usage)
        raise SystemExit(2)
    i = argv.index("--")
    opts, cmd = argv[:i], argv[i + 1 :]
    if not cmd:
        log(usage)
        raise SystemExit(2)
    return opts, cmd


def parse_args(argv: list[str], usage: str, extra: Callable[[argparse.ArgumentParser], None] | None = None):
    opts, cmd = split_command(argv, usage)
    parser = argparse.ArgumentParser(usage=usage)
    parser.add_argument("--out", required=True, help="where to write the result JSON")
    parser.add_argument(
        "--step-timeout", type=float, default=20.0, help="default per-step deadline in seconds"
    )
    if extra is not None:
        extra(parser)
    args = parser.parse_args(opts)
    args.command = cmd
    return args


def sdk_version() -> str:
    try:
        return metadata.version("mcp")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


class Recorder:
    """Collects step results in order, plus connection-wide observations."""

    def __init__(self, peer: str, command: list[str]) -> None:
        self.t0 = time.monotonic()
        self.current_step = "startup"
        self.result: dict[str, Any] = {
            "peer": peer,
            "command": command,
            "sdk": {"package": "mcp", "version": sdk_version()},
            "ok": False,
            "steps": {},
            # server -> client requests, in arrival order, with the step they arrived in
            "server_requests": [],
            # count of server notifications by method (everything the session surfaced)
            "notifications": {},
            "transport_errors": [],
        }

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 3)

    @property
    def steps(self) -> dict[str, Any]:
        return self.result["steps"]

    def server_request(self, method: str) -> None:
        self.result["server_requests"].append({"method": method, "t": self.now(), "step": self.current_step})

    def notification(self, method: str) -> None:
        counts = self.result["notifications"]
        counts[method] = counts.get(method, 0) + 1

    async def step(
        self,
        name: str,
        fn: Callable[[], Awaitable[dict[str, Any]]],
        timeout: float,
    ) -> bool:
        """Run one bounded step; record `{"ok": ..., ...}` and never raise (except cancellation)."""
        self.current_step = name
        started = time.monotonic()
        entry: dict[str, Any]
        try:
            with anyio.fail_after(timeout):
                details = await fn()
            entry = {"ok": bool(details.pop("ok", True)), **details}
        except TimeoutError:
            entry = {"ok": False, "error": f"timed out after {timeout}s"}
        except Exception as exc:  # noqa: BLE001 - a failing step is data, not a crash
            entry = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            log(f"[{name}] failed:\n{traceback.format_exc()}")
        entry["elapsed_s"] = round(time.monotonic() - started, 3)
        self.steps[name] = entry
        log(f"[{name}] {'ok' if entry['ok'] else 'FAILED'} ({entry['elapsed_s']}s)")
        return entry["ok"]

    def skip_remaining(self, names: list[str], reason: str) -> None:
        for name in names:
            if name not in self.steps:
                self.steps[name] = {"ok": False, "error": f"not run: {reason}"}

    def finish(self, out_path: str) -> int:
        steps = self.result["steps"]
        self.result["ok"] = bool(steps) and all(s.get("ok") for s in steps.values())
        self.result["duration_s"] = self.now()
        tmp = f"{out_path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.result, f, indent=2, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, out_path)
        return 0 if self.result["ok"] else 1


def text_of(result: Any) -> str:
    """Concatenate the text blocks of a CallToolResult."""
    return "".join(getattr(block, "text", "") for block in (result.content or []))


def child_env() -> dict[str, str]:
    """The server inherits our whole environment (a proxy under test may need its own vars)."""
    return dict(os.environ)
