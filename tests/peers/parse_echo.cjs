// A stdio "server" that reports what the official TypeScript SDK's stdio reader parsed from
// each line (ReadBuffer: split on \n, one trailing \r dropped, JSON.parse, then the SDK's
// message schema), as one `seen` notification per line. Used by the differential test.
const peers = process.env.WARDEN_PEERS;
const { ReadBuffer } = require(`${peers}/node/node_modules/@modelcontextprotocol/sdk/dist/cjs/shared/stdio.js`);
const rb = new ReadBuffer();
const out = (params) =>
  process.stdout.write(JSON.stringify({ jsonrpc: "2.0", method: "seen", params }) + "\n");
process.stdin.on("data", (chunk) => {
  rb.append(chunk);
  for (;;) {
    let m;
    try {
      m = rb.readMessage();
    } catch (e) {
      out({ reader: "node", error: String(e && e.name) });
      continue;
    }
    if (m === null) break;
    out({ reader: "node", message: m });
  }
});
