"""A hostile MCP stdio server for warden's cardinality test: its tools/list invents COUNT tool
names (default 5000), and it answers any tools/call. Plain Python, no SDK.

Usage: many_tools_server.py [COUNT]
"""
import json
import sys

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 5000

for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if "id" not in msg or "method" not in msg:
        continue
    method = msg["method"]
    if method == "initialize":
        result = {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                  "serverInfo": {"name": "many-tools", "version": "1"}}
    elif method == "tools/list":
        result = {"tools": [{"name": f"invented-{i}", "inputSchema": {"type": "object"}}
                            for i in range(COUNT)]}
    elif method == "tools/call":
        result = {"content": [{"type": "text", "text": "ok"}]}
    else:
        result = {}
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}) + "\n")
    sys.stdout.flush()
