"""Drives a Streamable HTTP MCP endpoint with the official Python `mcp` SDK's `Client` in its
default `auto` mode: it probes `server/discover` and speaks 2026-07-28 (stateless requests) to
a modern server, or falls back to `initialize` for a legacy one. Prints one JSON object:
the negotiated protocol version, the tools listed and the echo's text. Exits 1 on any error.

usage: modern_client.py URL MESSAGE
"""

import json
import sys

import anyio
from mcp.client.client import Client


async def main(url: str, message: str) -> None:
    async with Client(url) as client:
        tools = await client.list_tools()
        result = await client.call_tool("echo", {"message": message})
        text = "".join(getattr(c, "text", "") for c in result.content)
        print(
            json.dumps(
                {
                    "protocol_version": client.protocol_version,
                    "tools": [t.name for t in tools.tools],
                    "echo": text,
                    "is_error": result.is_error,
                }
            )
        )


if __name__ == "__main__":
    try:
        anyio.run(main, sys.argv[1], sys.argv[2])
    except Exception as e:  # noqa: BLE001 - reported to the test
        print(f"modern_client: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
