#!/usr/bin/env python3
"""Drive @modelcontextprotocol/server-everything (or a proxy in front of it) with the
official MCP Python SDK and record what happened.

usage: everything_client.py --out RESULT.json [--step-timeout S] [--root DIR] -- CMD [ARGS...]
       everything_client.py --out RESULT.json [--header NAME=VALUE] [--transport sse] --url URL

CMD is launched as an MCP stdio server; with --url the client speaks Streamable HTTP to URL
instead (no SSE event size limit, so the 1 MiB echo fits in one event). The client advertises sampling, elicitation
and roots, then runs: initialize, tools/list, a ~1 MiB multi-byte UTF-8 echo,
server->client sampling, elicitation and roots/list, progress, logging, resource
subscriptions and ping. Every step is bounded by a deadline; a failing step is
recorded as {"ok": false, "error": ...} and the run goes on. Exit 0 iff every step
is ok (1 otherwise, 2 on bad usage). Nothing is printed on stdout.

Tool names and argument shapes are those of server-everything 2026.8.31
(dist/tools/*.js).
"""

from __future__ import annotations

import math
import os
import pathlib
import sys
from typing import Any

try:
    import anyio
    import mcp.types as types
    from mcp import ClientSession, StdioServerParameters, stdio_client
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client
except ImportError as exc:  # pragma: no cover
    print(
        f"{exc}: the MCP Python SDK is missing; run scripts/install-peers.sh and use .peers/venv/bin/python",
        file=sys.stderr,
    )
    sys.exit(2)

sys.dont_write_bytecode = True  # keep tests/peers free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from peer_common import Recorder, child_env, log, parse_args, text_of  # noqa: E402

USAGE = "everything_client.py --out RESULT.json [--step-timeout S] [--root DIR] [--url URL [--header N=V]] [-- CMD [ARGS...]]"

# Exact names in server-everything 2026.8.31.
TOOL_ECHO = "echo"  # {message: string} -> "Echo: <message>"
TOOL_SAMPLING = "trigger-sampling-request"  # {prompt: string, maxTokens?: number}
TOOL_ELICITATION = "trigger-elicitation-request"  # {}
TOOL_ROOTS = "get-roots-list"  # {}
TOOL_LONG_RUNNING = "trigger-long-running-operation"  # {duration?: seconds, steps?: number}
TOOL_LOGGING = "toggle-simulated-logging"  # {} (toggles; 1 message now, then every 5 s)
TOOL_SUBSCRIBER_UPDATES = "toggle-subscriber-updates"  # {} (toggles; 1 round now, then every 5 s)
REQUIRED_TOOLS = [
    TOOL_ECHO,
    TOOL_SAMPLING,
    TOOL_ELICITATION,
    TOOL_ROOTS,
    TOOL_LONG_RUNNING,
    TOOL_LOGGING,
    TOOL_SUBSCRIBER_UPDATES,
]

ECHO_UNIT = "héllo wörld ✓ 日本語 🚀 "
ECHO_TARGET_BYTES = 1024 * 1024
SAMPLING_TEXT = "Fixed sampling reply from the warden peer client: ✓ 日本語"
SAMPLING_MODEL = "warden-peer-fixed-model"
ELICIT_NAME = "Wärden Tëster"
PROGRESS_STEPS = 4
PROGRESS_DURATION_S = 1

STEP_NAMES = [
    "initialize",
    "tools_list",
    "echo_large_utf8",
    "sampling",
    "elicitation",
    "roots",
    "progress",
    "logging",
    "resources_subscribe",
    "ping",
]


async def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    """Poll `predicate` until true or `timeout` elapses (never raises on timeout)."""
    with anyio.move_on_after(timeout):
        while not predicate():
            await anyio.sleep(interval)
        return True
    return bool(predicate())


def elicitation_value(name: str, prop: dict[str, Any]) -> Any:
    """A plausible value for one (flat) property of an elicitation requestedSchema."""
    if name == "name":
        return ELICIT_NAME
    if "default" in prop:
        return prop["default"]
    if prop.get("enum"):
        return prop["enum"][0]
    for key in ("oneOf", "anyOf"):
        consts = [o["const"] for o in prop.get(key, []) if isinstance(o, dict) and "const" in o]
        if consts:
            return consts[0]
    kind = prop.get("type")
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        lo = prop.get("minimum", 1)
        hi = prop.get("maximum", max(lo, 42))
        value = min(max(42, lo), hi)
        return int(value) if kind == "integer" else float(value)
    if kind == "array":
        items = prop.get("items", {}) or {}
        choices = list(items.get("enum", [])) or [
            o["const"] for o in items.get("anyOf", items.get("oneOf", [])) if isinstance(o, dict) and "const" in o
        ]
        n = max(1, int(prop.get("minItems", 1)))
        return (choices or ["item"])[:n] if len(choices or ["item"]) >= n else (choices or ["item"]) * n
    fmt = prop.get("format")
    value = {
        "email": "warden-peer@example.com",
        "uri": "https://example.com/warden",
        "date": "2000-01-31",
        "date-time": "2000-01-31T12:00:00Z",
    }.get(fmt, "warden peer value")
    min_len = int(prop.get("minLength", 0))
    if len(value) < min_len:
        value = value + "x" * (min_len - len(value))
    if "maxLength" in prop:
        value = value[: int(prop["maxLength"])]
    return value


class Observed:
    """State the SDK callbacks write to."""

    def __init__(self, rec: Recorder, root_uri: str) -> None:
        self.rec = rec
        self.root_uri = root_uri
        self.sampling_calls: list[dict[str, Any]] = []
        self.elicitation_calls: list[dict[str, Any]] = []
        self.roots_calls = 0
        self.logs: list[dict[str, Any]] = []
        self.resource_updates: list[str] = []
        self.progress_notifications = 0
        self.other: list[str] = []

    async def sampling_callback(self, context, params: types.CreateMessageRequestParams):
        self.rec.server_request("sampling/createMessage")
        first = params.messages[0].content if params.messages else None
        self.sampling_calls.append(
            {
                "max_tokens": params.max_tokens,
                "system_prompt": params.system_prompt,
                "first_message_text": getattr(first, "text", None),
            }
        )
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=SAMPLING_TEXT),
            model=SAMPLING_MODEL,
            stop_reason="endTurn",
        )

    async def elicitation_callback(self, context, params: types.ElicitRequestParams):
        self.rec.server_request("elicitation/create")
        if isinstance(params, types.ElicitRequestURLParams):
            self.elicitation_calls.append({"mode": "url", "url": params.url})
            return types.ElicitResult(action="decline")
        schema = params.requested_schema or {}
        props: dict[str, Any] = schema.get("properties", {}) or {}
        content = {name: elicitation_value(name, prop or {}) for name, prop in props.items()}
        self.elicitation_calls.append(
            {
                "mode": "form",
                "message": params.message,
                "requested_properties": list(props),
                "required": schema.get("required", []),
                "content": content,
            }
        )
        return types.ElicitResult(action="accept", content=content)

    async def list_roots_callback(self, context):
        self.rec.server_request("roots/list")
        self.roots_calls += 1
        return types.ListRootsResult(roots=[types.Root(uri=self.root_uri, name="warden-peer-root")])

    async def logging_callback(self, params: types.LoggingMessageNotificationParams) -> None:
        data = params.data
        if not isinstance(data, str | int | float | bool | type(None)):
            data = repr(data)
        self.logs.append({"level": params.level, "logger": params.logger, "data": data, "t": self.rec.now()})

    async def message_handler(self, message) -> None:
        if isinstance(message, Exception):
            self.rec.result["transport_errors"].append(f"{type(message).__name__}: {message}")
            return
        method = getattr(message, "method", type(message).__name__)
        self.rec.notification(method)
        if isinstance(message, types.ResourceUpdatedNotification):
            self.resource_updates.append(str(message.params.uri))
        elif isinstance(message, types.ProgressNotification):
            self.progress_notifications += 1


async def run(args, rec: Recorder) -> None:
    root_dir = pathlib.Path(args.root).resolve()
    obs = Observed(rec, root_dir.as_uri())
    t = args.step_timeout
    if args.url and args.transport == "sse":
        headers = dict(h.split("=", 1) for h in args.header)
        transport = sse_client(args.url, headers=headers, sse_read_timeout=60)
    elif args.url:
        headers = dict(h.split("=", 1) for h in args.header)
        client = create_mcp_http_client(headers=headers)
        transport = streamable_http_client(args.url, http_client=client, max_sse_event_size=None)
    else:
        params = StdioServerParameters(command=args.command[0], args=args.command[1:], env=child_env())
        transport = stdio_client(params)

    async with transport as (read, write):
        async with ClientSession(
            read,
            write,
            sampling_callback=obs.sampling_callback,
            elicitation_callback=obs.elicitation_callback,
            list_roots_callback=obs.list_roots_callback,
            logging_callback=obs.logging_callback,
            message_handler=obs.message_handler,
            client_info=types.Implementation(name="warden-peer-everything-client", version="0.1.0"),
        ) as session:
            tools: dict[str, types.Tool] = {}

            # -- initialize ---------------------------------------------------------
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
                rec.skip_remaining(STEP_NAMES, "initialize failed")
                return

            # -- tools/list ---------------------------------------------------------
            async def tools_list() -> dict[str, Any]:
                res = await session.list_tools()
                tools.update({tool.name: tool for tool in res.tools})
                missing = [name for name in REQUIRED_TOOLS if name not in tools]
                out: dict[str, Any] = {"tools": [tool.name for tool in res.tools]}
                if missing:
                    out.update(ok=False, error=f"missing tools: {missing}")
                return out

            await rec.step("tools_list", tools_list, t)

            # -- echo: ~1 MiB of multi-byte UTF-8 -------------------------------------
            async def echo_large() -> dict[str, Any]:
                unit_bytes = len(ECHO_UNIT.encode("utf-8"))
                target = args.echo_bytes or ECHO_TARGET_BYTES
                message = ECHO_UNIT * math.ceil(target / unit_bytes)
                res = await session.call_tool(TOOL_ECHO, {"message": message})
                text = text_of(res)
                contains = message in text
                out: dict[str, Any] = {
                    "message_bytes": len(message.encode("utf-8")),
                    "message_chars": len(message),
                    "response_text_bytes": len(text.encode("utf-8")),
                    "contains_exact": contains,
                    "exact_echo_format": text == f"Echo: {message}",
                    "is_error": bool(res.is_error),
                }
                if not contains or res.is_error:
                    out.update(ok=False, error="echoed text does not contain the message exactly")
                return out

            await rec.step("echo_large_utf8", echo_large, max(t, 60.0))

            # -- server -> client sampling ------------------------------------------
            async def sampling() -> dict[str, Any]:
                before = len(obs.sampling_calls)
                res = await session.call_tool(TOOL_SAMPLING, {"prompt": "Say hello to warden", "maxTokens": 64})
                text = text_of(res)
                invoked = len(obs.sampling_calls) - before
                out: dict[str, Any] = {
                    "tool": TOOL_SAMPLING,
                    "callback_invocations": invoked,
                    "request": obs.sampling_calls[-1] if obs.sampling_calls else None,
                    "result_contains_reply": SAMPLING_TEXT in text,
                    "result_contains_model": SAMPLING_MODEL in text,
                    "is_error": bool(res.is_error),
                }
                if invoked != 1 or SAMPLING_TEXT not in text or res.is_error:
                    out.update(ok=False, error=f"sampling round-trip failed: {text[:300]!r}")
                return out

            await rec.step("sampling", sampling, t)

            # -- server -> client elicitation ---------------------------------------
            async def elicitation() -> dict[str, Any]:
                before = len(obs.elicitation_calls)
                res = await session.call_tool(TOOL_ELICITATION, {})
                text = text_of(res)
                invoked = len(obs.elicitation_calls) - before
                accepted = "User provided the requested information" in text
                out: dict[str, Any] = {
                    "tool": TOOL_ELICITATION,
                    "callback_invocations": invoked,
                    "request": obs.elicitation_calls[-1] if obs.elicitation_calls else None,
                    "server_saw_accept": accepted,
                    "server_echoed_name": ELICIT_NAME in text,
                    "is_error": bool(res.is_error),
                }
                if invoked != 1 or not accepted or ELICIT_NAME not in text or res.is_error:
                    out.update(ok=False, error=f"elicitation round-trip failed: {text[:300]!r}")
                return out

            await rec.step("elicitation", elicitation, t)

            # -- server -> client roots/list ----------------------------------------
            async def roots() -> dict[str, Any]:
                # server-everything asks roots/list by itself ~350 ms after
                # notifications/initialized when the client advertises roots (an
                # unsolicited server->client request). Wait for it before calling the
                # tool, which would otherwise fetch the roots itself.
                await wait_until(lambda: obs.roots_calls > 0, min(3.0, t / 2))
                auto = [r for r in rec.result["server_requests"] if r["method"] == "roots/list"]
                before = obs.roots_calls
                res = await session.call_tool(TOOL_ROOTS, {})
                text = text_of(res)
                out: dict[str, Any] = {
                    "tool": TOOL_ROOTS,
                    "auto_requested_after_initialize": bool(auto),
                    "auto_request_at_s": auto[0]["t"] if auto else None,
                    "callback_invocations_total": obs.roots_calls,
                    "callback_invocations_during_tool": obs.roots_calls - before,
                    "result_lists_root": obs.root_uri in text,
                    "root_uri": obs.root_uri,
                    "is_error": bool(res.is_error),
                }
                if not auto:
                    out.update(ok=False, error="server never sent roots/list on its own after initialize")
                elif obs.root_uri not in text or res.is_error:
                    out.update(ok=False, error=f"get-roots-list does not list our root: {text[:300]!r}")
                return out

            await rec.step("roots", roots, t)

            # -- progress notifications ---------------------------------------------
            async def progress() -> dict[str, Any]:
                seen: list[tuple[float, float | None]] = []

                async def on_progress(value: float, total: float | None, message: str | None) -> None:
                    seen.append((value, total))

                handler_before = obs.progress_notifications
                res = await session.call_tool(
                    TOOL_LONG_RUNNING,
                    {"duration": PROGRESS_DURATION_S, "steps": PROGRESS_STEPS},
                    progress_callback=on_progress,
                )
                # The SDK runs progress callbacks in spawned tasks: give stragglers a moment.
                await wait_until(lambda: len(seen) >= PROGRESS_STEPS, 2.0)
                values = [v for v, _ in seen]
                out: dict[str, Any] = {
                    "tool": TOOL_LONG_RUNNING,
                    "arguments": {"duration": PROGRESS_DURATION_S, "steps": PROGRESS_STEPS},
                    "progress_callbacks": len(seen),
                    "progress_values": values,
                    "totals": sorted({tot for _, tot in seen if tot is not None}),
                    "progress_notifications_via_message_handler": obs.progress_notifications - handler_before,
                    "result_text": text_of(res)[:200],
                }
                if len(seen) != PROGRESS_STEPS or sorted(values) != [float(i) for i in range(1, PROGRESS_STEPS + 1)]:
                    out.update(ok=False, error=f"expected {PROGRESS_STEPS} progress notifications, got {values}")
                return out

            await rec.step("progress", progress, t)

            # -- logging ------------------------------------------------------------
            async def logging_step() -> dict[str, Any]:
                await session.set_logging_level("debug")
                before = len(obs.logs)
                on = await session.call_tool(TOOL_LOGGING, {})
                # One message is sent immediately on toggle-on, then one every 5 s.
                await wait_until(lambda: len(obs.logs) > before, 4.0)
                # Catch a straggler or two without waiting for the 5 s interval.
                await anyio.sleep(0.3)
                got = obs.logs[before:]
                off = await session.call_tool(TOOL_LOGGING, {})
                out: dict[str, Any] = {
                    "set_level": "debug",
                    "tool": TOOL_LOGGING,
                    "toggle_on_text": text_of(on)[:120],
                    "toggle_off_text": text_of(off)[:120],
                    "log_notifications_in_window": len(got),
                    "sample": got[:3],
                    "log_notifications_total_so_far": len(obs.logs),
                }
                if not got:
                    out.update(ok=False, error="no notifications/message received after toggling simulated logging")
                return out

            await rec.step("logging", logging_step, t)

            # -- resources: list, subscribe, updates --------------------------------
            async def resources_subscribe() -> dict[str, Any]:
                listing = await session.list_resources()
                uris = [str(r.uri) for r in listing.resources]
                if not uris:
                    return {"ok": False, "error": "resources/list returned no resources"}
                uri = uris[0]
                await session.subscribe_resource(uri)
                before = obs.resource_updates.count(uri)
                on = await session.call_tool(TOOL_SUBSCRIBER_UPDATES, {})
                # One update round is sent immediately on toggle-on, then every 5 s.
                await wait_until(lambda: obs.resource_updates.count(uri) > before, 4.0)
                updates = obs.resource_updates.count(uri) - before
                off = await session.call_tool(TOOL_SUBSCRIBER_UPDATES, {})
                await session.unsubscribe_resource(uri)
                out: dict[str, Any] = {
                    "resources_listed": len(uris),
                    "subscribed_uri": uri,
                    "tool": TOOL_SUBSCRIBER_UPDATES,
                    "toggle_on_text": text_of(on)[:120],
                    "toggle_off_text": text_of(off)[:120],
                    "resource_updated_notifications": updates,
                }
                if updates < 1:
                    out.update(ok=False, error="no notifications/resources/updated received")
                return out

            await rec.step("resources_subscribe", resources_subscribe, t)

            # -- ping ---------------------------------------------------------------
            async def ping() -> dict[str, Any]:
                await session.send_ping()
                return {}

            await rec.step("ping", ping, t)

            rec.current_step = "shutdown"
            rec.result["log_notifications_total"] = len(obs.logs)
            rec.result["log_messages"] = obs.logs[:20]
            rec.result["roots_callback_invocations"] = obs.roots_calls


def main() -> int:
    def extra(parser) -> None:
        parser.add_argument("--root", default=os.getcwd(), help="directory offered as the client's one root")
        parser.add_argument("--overall-timeout", type=float, default=240.0)
        parser.add_argument("--url", help="a Streamable HTTP endpoint instead of a stdio command")
        parser.add_argument("--header", action="append", default=[], help="NAME=VALUE sent on every HTTP request")
        parser.add_argument(
            "--echo-bytes", type=int, default=0,
            help="size of the large echo (default ~1 MiB; the SDK's HTTP+SSE client caps an event at 1 MiB)",
        )
        parser.add_argument(
            "--transport", choices=["streamable", "sse"], default="streamable",
            help="with --url: Streamable HTTP, or the deprecated HTTP+SSE (URL is the SSE endpoint)",
        )

    args = parse_args(sys.argv[1:], USAGE, extra)
    rec = Recorder("server-everything", args.command or [args.url])

    async def guarded() -> None:
        try:
            with anyio.fail_after(args.overall_timeout):
                await run(args, rec)
        except TimeoutError:
            rec.result["fatal"] = f"overall timeout of {args.overall_timeout}s reached"
        except Exception as exc:  # noqa: BLE001
            rec.result["fatal"] = f"{type(exc).__name__}: {exc}"
            log(f"fatal: {rec.result['fatal']}")
        rec.skip_remaining(STEP_NAMES, rec.result.get("fatal", "connection ended early"))

    anyio.run(guarded)
    return rec.finish(args.out)


if __name__ == "__main__":
    sys.exit(main())
