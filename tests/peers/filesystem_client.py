#!/usr/bin/env python3
"""Drive @modelcontextprotocol/server-filesystem (or a proxy in front of it) with the
official MCP Python SDK and record what happened.

usage: filesystem_client.py --out RESULT.json --dir ALLOWED_DIR [--no-roots] [--step-timeout S] -- CMD [ARGS...]

CMD is launched as an MCP stdio server whose allowed directory is ALLOWED_DIR. Steps:
initialize, tools/list, write_file, read_text_file (compared with what was written),
list_directory. Unless --no-roots, the client also advertises roots (one root:
ALLOWED_DIR); server-filesystem then sends roots/list on its own right after
initialization, which is recorded as the `roots_requested` step. Every step is
bounded; a failing step is recorded as {"ok": false, "error": ...} and the run goes
on. Exit 0 iff every step is ok (1 otherwise, 2 on bad usage). Nothing on stdout.

Tool names and argument shapes are those of server-filesystem 2026.8.31 (dist/index.js):
write_file {path, content}, read_text_file {path, head?, tail?}, list_directory {path}.
The file written is left in ALLOWED_DIR (the server has no delete tool).
"""

from __future__ import annotations

import os
import pathlib
import sys
from typing import Any

try:
    import anyio
    import mcp.types as types
    from mcp import ClientSession, StdioServerParameters, stdio_client
except ImportError as exc:  # pragma: no cover
    print(
        f"{exc}: the MCP Python SDK is missing; run scripts/install-peers.sh and use .peers/venv/bin/python",
        file=sys.stderr,
    )
    sys.exit(2)

sys.dont_write_bytecode = True  # keep tests/peers free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from peer_common import Recorder, child_env, log, parse_args, text_of  # noqa: E402

USAGE = (
    "filesystem_client.py --out RESULT.json --dir ALLOWED_DIR [--no-roots] [--step-timeout S] -- CMD [ARGS...]"
)

TOOL_WRITE = "write_file"
TOOL_READ = "read_text_file"
TOOL_LIST = "list_directory"
REQUIRED_TOOLS = [TOOL_WRITE, TOOL_READ, TOOL_LIST]

CONTENT = "warden filesystem peer test\nhéllo wörld ✓ 日本語 🚀\nline three\n" + ("0123456789abcdef" * 64 + "\n") * 16


async def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    with anyio.move_on_after(timeout):
        while not predicate():
            await anyio.sleep(interval)
        return True
    return bool(predicate())


async def run(args, rec: Recorder, step_names: list[str]) -> None:
    allowed = pathlib.Path(args.dir).resolve()
    file_name = f"warden-peer-{os.getpid()}.txt"
    file_path = str(allowed / file_name)
    t = args.step_timeout
    roots_calls: list[float] = []

    async def list_roots_callback(context):
        rec.server_request("roots/list")
        roots_calls.append(rec.now())
        return types.ListRootsResult(roots=[types.Root(uri=allowed.as_uri(), name="allowed")])

    async def message_handler(message) -> None:
        if isinstance(message, Exception):
            rec.result["transport_errors"].append(f"{type(message).__name__}: {message}")
            return
        rec.notification(getattr(message, "method", type(message).__name__))

    params = StdioServerParameters(command=args.command[0], args=args.command[1:], env=child_env())
    async with stdio_client(params) as (read, write):
        async with ClientSession(
            read,
            write,
            list_roots_callback=None if args.no_roots else list_roots_callback,
            message_handler=message_handler,
            client_info=types.Implementation(name="warden-peer-filesystem-client", version="0.1.0"),
        ) as session:

            async def initialize() -> dict[str, Any]:
                res = await session.initialize()
                caps = res.capabilities.model_dump(by_alias=True, mode="json", exclude_none=True)
                return {
                    "server_name": res.server_info.name,
                    "server_version": res.server_info.version,
                    "protocol_version": res.protocol_version,
                    "server_capabilities": sorted(caps),
                }

            if not await rec.step("initialize", initialize, t):
                rec.skip_remaining(step_names, "initialize failed")
                return

            if not args.no_roots:

                async def roots_requested() -> dict[str, Any]:
                    await wait_until(lambda: bool(roots_calls), min(3.0, t / 2))
                    out: dict[str, Any] = {"root_uri": allowed.as_uri(), "requests": len(roots_calls)}
                    if roots_calls:
                        out["first_request_at_s"] = roots_calls[0]
                    else:
                        out.update(ok=False, error="server never sent roots/list after initialize")
                    return out

                await rec.step("roots_requested", roots_requested, t)

            async def tools_list() -> dict[str, Any]:
                res = await session.list_tools()
                names = [tool.name for tool in res.tools]
                out: dict[str, Any] = {"tools": names}
                missing = [n for n in REQUIRED_TOOLS if n not in names]
                if missing:
                    out.update(ok=False, error=f"missing tools: {missing}")
                return out

            await rec.step("tools_list", tools_list, t)

            async def write_file() -> dict[str, Any]:
                res = await session.call_tool(TOOL_WRITE, {"path": file_path, "content": CONTENT})
                text = text_of(res)
                on_disk = pathlib.Path(file_path).read_text(encoding="utf-8") if os.path.exists(file_path) else None
                out: dict[str, Any] = {
                    "tool": TOOL_WRITE,
                    "path": file_path,
                    "content_bytes": len(CONTENT.encode("utf-8")),
                    "result_text": text[:200],
                    "on_disk_matches": on_disk == CONTENT,
                    "is_error": bool(res.is_error),
                }
                if res.is_error or on_disk != CONTENT:
                    out.update(ok=False, error=f"write_file failed: {text[:300]!r}")
                return out

            await rec.step("write_file", write_file, t)

            async def read_file() -> dict[str, Any]:
                res = await session.call_tool(TOOL_READ, {"path": file_path})
                text = text_of(res)
                structured = (res.structured_content or {}).get("content")
                out: dict[str, Any] = {
                    "tool": TOOL_READ,
                    "path": file_path,
                    "text_matches": text == CONTENT,
                    "structured_matches": structured == CONTENT,
                    "read_bytes": len(text.encode("utf-8")),
                    "is_error": bool(res.is_error),
                }
                if res.is_error or text != CONTENT:
                    out.update(ok=False, error=f"read back differs from what was written: {text[:300]!r}")
                return out

            await rec.step("read_text_file", read_file, t)

            async def list_directory() -> dict[str, Any]:
                res = await session.call_tool(TOOL_LIST, {"path": str(allowed)})
                text = text_of(res)
                entries = [line for line in text.splitlines() if line.strip()]
                listed = f"[FILE] {file_name}" in entries
                out: dict[str, Any] = {
                    "tool": TOOL_LIST,
                    "path": str(allowed),
                    "entries": len(entries),
                    "lists_written_file": listed,
                    "is_error": bool(res.is_error),
                }
                if res.is_error or not listed:
                    out.update(ok=False, error=f"{file_name} not listed: {text[:300]!r}")
                return out

            await rec.step("list_directory", list_directory, t)

            async def ping() -> dict[str, Any]:
                await session.send_ping()
                return {}

            await rec.step("ping", ping, t)
            rec.current_step = "shutdown"


def main() -> int:
    def extra(parser) -> None:
        parser.add_argument("--dir", required=True, help="the server's allowed directory")
        parser.add_argument("--no-roots", action="store_true", help="do not advertise the roots capability")
        parser.add_argument("--overall-timeout", type=float, default=120.0)

    args = parse_args(sys.argv[1:], USAGE, extra)
    if not os.path.isdir(args.dir):
        log(f"--dir {args.dir!r} is not a directory")
        return 2
    rec = Recorder("server-filesystem", args.command)
    step_names = ["initialize"]
    if not args.no_roots:
        step_names.append("roots_requested")
    step_names += ["tools_list", "write_file", "read_text_file", "list_directory", "ping"]

    async def guarded() -> None:
        try:
            with anyio.fail_after(args.overall_timeout):
                await run(args, rec, step_names)
        except TimeoutError:
            rec.result["fatal"] = f"overall timeout of {args.overall_timeout}s reached"
        except Exception as exc:  # noqa: BLE001
            rec.result["fatal"] = f"{type(exc).__name__}: {exc}"
            log(f"fatal: {rec.result['fatal']}")
        rec.skip_remaining(step_names, rec.result.get("fatal", "connection ended early"))

    anyio.run(guarded)
    return rec.finish(args.out)


if __name__ == "__main__":
    sys.exit(main())
