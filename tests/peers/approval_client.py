#!/usr/bin/env python3
"""Drive server-filesystem's write_file behind a warden approval rule with the official MCP
Python SDK, while another process (`warden approvals ...`, the CLI) decides.

usage: approval_client.py --out RESULT.json --dir ALLOWED_DIR --scenario NAME
       --warden WARDEN --db DB --key-dir KEYS [--step-timeout S] -- CMD [ARGS...]

CMD is `warden run ... -- server-filesystem ALLOWED_DIR` with a policy whose write_file
rule asks for approval. Scenarios:
  approve  the call is held; the CLI approves it; the held call gets the server's answer
  deny     the call is held; the CLI denies it; the client gets the documented error
  expire   nobody decides before the rule's timeout; the client gets the expired error
  hold     the hold runs out: a pending tool result (isError, the approval in _meta); the
           CLI approves; the same call again runs once; once more needs a new approval
  session  `grant: session`: after one approval the session's identical calls go through
  elicit-accept   the client declares elicitation; warden asks it; it approves: the call runs
  elicit-decline  the same, and the human declines: the call is refused
  no-elicit       the client does not declare elicitation: it is never asked (pending answer)
Each step is bounded; decisions are made only once the approval is listed as pending
(the client waits for that, polling the CLI). Exit 0 iff every step is ok.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

try:
    import anyio
    import mcp.types as types
    from mcp import ClientSession, StdioServerParameters, stdio_client
    from mcp.shared.exceptions import MCPError as McpError
except ImportError as exc:  # pragma: no cover
    print(f"{exc}: run scripts/install-peers.sh and use .peers/venv/bin/python", file=sys.stderr)
    sys.exit(2)

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from peer_common import Recorder, child_env, log, parse_args, text_of  # noqa: E402

USAGE = __doc__.split("\n\n")[1]
META = "dev.warden/approval"


class Cli:
    """`warden approvals` against the test's store: another process, as a human would use it."""

    def __init__(self, args) -> None:
        self.base = [args.warden, "approvals"]
        self.store = ["--db", args.db]
        self.keys = ["--key-dir", args.key_dir]

    def run(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self.base, *argv], capture_output=True, text=True, timeout=30)

    def pending(self) -> list[dict[str, Any]]:
        p = self.run("list", "--format", "json", *self.store)
        if p.returncode != 0:
            raise RuntimeError(f"approvals list failed: {p.stderr}")
        return json.loads(p.stdout)

    async def wait_pending(self, known: set[str], timeout: float = 20.0) -> dict[str, Any]:
        """The first pending approval not in `known` (waits until it is listed)."""
        with anyio.fail_after(timeout):
            while True:
                for a in await anyio.to_thread.run_sync(self.pending):
                    if a["id"] not in known:
                        return a
                await anyio.sleep(0.1)

    def decide(self, verb: str, approval: str, reason: str) -> subprocess.CompletedProcess:
        return self.run(verb, approval, "--reason", reason, "--as", "security-officer", *self.store, *self.keys)


def approval_of(res: types.CallToolResult) -> dict[str, Any] | None:
    meta = res.meta or {}
    return meta.get(META)


async def run(args, rec: Recorder) -> None:
    allowed = pathlib.Path(args.dir).resolve()
    cli = Cli(args)
    t = args.step_timeout
    progress: list[float] = []

    asked: list[dict[str, Any]] = []

    async def elicitation_callback(context, params) -> types.ElicitResult:
        asked.append({"message": params.message, "schema": params.requested_schema})
        if args.scenario == "elicit-accept":
            return types.ElicitResult(action="accept", content={"decision": "approve", "reason": "looks fine"})
        return types.ElicitResult(action="decline")

    elicits = args.scenario in ("elicit-accept", "elicit-decline")
    params = StdioServerParameters(command=args.command[0], args=args.command[1:], env=child_env())
    async with stdio_client(params) as (read, write):
        async with ClientSession(
            read,
            write,
            elicitation_callback=elicitation_callback if elicits else None,
            client_info=types.Implementation(name="warden-approval-client", version="0.1.0"),
        ) as session:
            await rec.step("initialize", lambda: _init(session), t)

            def target(name: str) -> str:
                return str(allowed / name)

            async def call(name: str, content: str, **kw) -> types.CallToolResult:
                return await session.call_tool("write_file", {"path": target(name), "content": content}, **kw)

            def on_disk(name: str) -> str | None:
                p = pathlib.Path(target(name))
                return p.read_text(encoding="utf-8") if p.exists() else None

            async def decided_while_held(verb: str) -> dict[str, Any]:
                """Start the call, decide it from the CLI while it is held, return what the client got."""
                out: dict[str, Any] = {}
                async with anyio.create_task_group() as tg:

                    async def caller() -> None:
                        try:
                            res = await call("held.txt", "written after approval\n")
                            out["result"] = {"is_error": bool(res.is_error), "text": text_of(res)[:300]}
                        except McpError as e:
                            out["error"] = {"code": e.error.code, "message": e.error.message, "data": e.error.data}

                    tg.start_soon(caller)
                    a = await cli.wait_pending(set())
                    out["approval"] = a["id"]
                    out["pending_tool"] = a["tool"]
                    out["stored_arguments"] = a["arguments"]
                    d = await anyio.to_thread.run_sync(lambda: cli.decide(verb, a["id"], f"{verb} by test"))
                    out["cli_exit"] = d.returncode
                    out["cli_out"] = d.stdout.strip()
                    # A second decision of the same approval is refused: the first one won.
                    again = await anyio.to_thread.run_sync(lambda: cli.decide("approve", a["id"], "too late"))
                    out["second_decision_exit"] = again.returncode
                    out["second_decision_err"] = again.stderr.strip()
                out["on_disk"] = on_disk("held.txt")
                return out

            if args.scenario == "approve":

                async def approve() -> dict[str, Any]:
                    out = await decided_while_held("approve")
                    ok = out.get("result", {}).get("is_error") is False and out["on_disk"] == "written after approval\n"
                    return {"ok": ok, **out}

                await rec.step("approve", approve, t)

            elif args.scenario == "deny":

                async def deny() -> dict[str, Any]:
                    out = await decided_while_held("deny")
                    ok = out.get("error", {}).get("code") == -32016 and out["on_disk"] is None
                    return {"ok": ok, **out}

                await rec.step("deny", deny, t)

            elif args.scenario == "expire":

                async def expire() -> dict[str, Any]:
                    out: dict[str, Any] = {}
                    try:
                        res = await call("expired.txt", "never\n")
                        out["result"] = {"is_error": bool(res.is_error), "text": text_of(res)[:300]}
                    except McpError as e:
                        out["error"] = {"code": e.error.code, "message": e.error.message, "data": e.error.data}
                    out["on_disk"] = on_disk("expired.txt")
                    ok = out.get("error", {}).get("code") == -32017 and out["on_disk"] is None
                    return {"ok": ok, **out}

                await rec.step("expire", expire, t)

            elif args.scenario in ("hold", "session"):

                async def pending_then_approved() -> dict[str, Any]:
                    out: dict[str, Any] = {}

                    async def on_progress(p: float, total: float | None, message: str | None) -> None:
                        progress.append(p)

                    first = await call("retry.txt", "retried\n", progress_callback=on_progress)
                    a = approval_of(first)
                    out["first"] = {"is_error": bool(first.is_error), "text": text_of(first)[:300], "meta": a}
                    if not first.is_error or not a or a.get("status") != "pending":
                        return {"ok": False, "error": "no pending result", **out}
                    # Calling again while pending attaches to the same approval.
                    again = await call("retry.txt", "retried\n")
                    out["attached"] = (approval_of(again) or {}).get("id") == a["id"]
                    d = await anyio.to_thread.run_sync(lambda: cli.decide("approve", a["id"], "ok"))
                    out["cli_exit"] = d.returncode
                    second = await call("retry.txt", "retried\n")
                    out["second"] = {"is_error": bool(second.is_error), "text": text_of(second)[:300], "meta": approval_of(second)}
                    out["on_disk"] = on_disk("retry.txt")
                    third = await call("retry.txt", "retried\n")
                    out["third"] = {"is_error": bool(third.is_error), "text": text_of(third)[:300], "meta": approval_of(third)}
                    out["approval"] = a["id"]
                    out["progress_notifications"] = len(progress)
                    ok = out["attached"] and d.returncode == 0 and not second.is_error and out["on_disk"] == "retried\n"
                    if args.scenario == "hold":
                        # grant: once — the third call needs a new approval.
                        t3 = out["third"]["meta"] or {}
                        ok = ok and third.is_error and t3.get("status") == "pending" and t3.get("id") != a["id"]
                    else:
                        ok = ok and not third.is_error
                    return {"ok": ok, **out}

                await rec.step(args.scenario, pending_then_approved, t)

            elif args.scenario in ("elicit-accept", "elicit-decline", "no-elicit"):

                async def elicited() -> dict[str, Any]:
                    out: dict[str, Any] = {}
                    try:
                        res = await call("asked.txt", "asked the human\n")
                        out["result"] = {"is_error": bool(res.is_error), "text": text_of(res)[:300], "meta": approval_of(res)}
                    except McpError as e:
                        out["error"] = {"code": e.error.code, "message": e.error.message, "data": e.error.data}
                    out["asked"] = asked
                    out["on_disk"] = on_disk("asked.txt")
                    if args.scenario == "elicit-accept":
                        ok = len(asked) == 1 and out.get("result", {}).get("is_error") is False and out["on_disk"] is not None
                    elif args.scenario == "elicit-decline":
                        ok = len(asked) == 1 and out.get("error", {}).get("code") == -32016 and out["on_disk"] is None
                    else:
                        meta = out.get("result", {}).get("meta") or {}
                        ok = not asked and meta.get("status") == "pending" and out["on_disk"] is None
                    return {"ok": ok, **out}

                await rec.step(args.scenario, elicited, t)

            async def still_flowing() -> dict[str, Any]:
                res = await session.call_tool("list_directory", {"path": str(allowed)})
                return {"ok": not res.is_error}

            await rec.step("list_directory", still_flowing, t)
            rec.current_step = "shutdown"


async def _init(session: ClientSession) -> dict[str, Any]:
    res = await session.initialize()
    return {"server_name": res.server_info.name}


def main() -> int:
    def extra(parser) -> None:
        parser.add_argument("--dir", required=True)
        parser.add_argument("--scenario", required=True, choices=["approve", "deny", "expire", "hold", "session", "elicit-accept", "elicit-decline", "no-elicit"])
        parser.add_argument("--warden", required=True)
        parser.add_argument("--db", required=True)
        parser.add_argument("--key-dir", required=True)

    args = parse_args(sys.argv[1:], USAGE, extra)
    rec = Recorder("approval", args.command)
    try:
        anyio.run(run, args, rec)
    except Exception as exc:  # noqa: BLE001
        rec.result["transport_errors"].append(f"{type(exc).__name__}: {exc}")
        log(f"session failed: {exc!r}")
    return rec.finish(args.out)


if __name__ == "__main__":
    sys.exit(main())
