"""A stdio "server" that reports what the official Python SDK's stdio reader parsed from each
line (`mcp.server.stdio.stdio_server`: universal newlines, UTF-8 with replacement, the SDK's
pydantic message model), as one `seen` notification per message. Used by the differential
test."""

import json

import anyio
import mcp_types as types
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage


async def main() -> None:
    async with stdio_server() as (read, write):
        async for item in read:
            if isinstance(item, Exception):
                report = {"reader": "python", "error": type(item).__name__}
            else:
                dumped = item.message.model_dump_json(by_alias=True, exclude_unset=True)
                report = {"reader": "python", "message": json.loads(dumped)}
            note = types.JSONRPCNotification(jsonrpc="2.0", method="seen", params=report)
            await write.send(SessionMessage(message=note))


anyio.run(main)
