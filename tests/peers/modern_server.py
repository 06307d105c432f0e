"""A 2026-07-28 ("modern") MCP server over stdio, built on the official Python `mcp` SDK: it
answers `server/discover` and stateless requests without an `initialize` handshake. warden's
tests put it behind `warden serve` to check that stateless requests reach a modern stdio server.

Tools: `echo` (returns its `message`).
"""

from mcp.server.mcpserver import MCPServer

server = MCPServer("modern-echo")


@server.tool()
def echo(message: str) -> str:
    """Returns the message."""
    return message


if __name__ == "__main__":
    server.run("stdio")
