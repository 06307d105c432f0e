"""An OTLP/HTTP trace receiver for warden's tests: decodes each export request with the
official OpenTelemetry protobuf definitions (opentelemetry-proto) and appends one JSON line per
span to OUT; the raw request bodies are appended to OUT.raw (to check no payload bytes leave).

Usage: otlp_receiver.py PORT_FILE OUT [FAIL_FIRST]
Binds 127.0.0.1:0 and writes the port to PORT_FILE. The first FAIL_FIRST export requests
(default 0) are answered 503 without being decoded, to exercise the exporter's retries.
"""
import http.server
import json
import sys

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

PORT_FILE, OUT = sys.argv[1], sys.argv[2]
FAIL_FIRST = [int(sys.argv[3]) if len(sys.argv) > 3 else 0]


def value(v):
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if FAIL_FIRST[0] > 0:
            FAIL_FIRST[0] -= 1
            with open(OUT + ".refused", "a") as refused:
                refused.write("503\n")
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with open(OUT + ".raw", "ab") as raw:
            raw.write(body)
        req = trace_service_pb2.ExportTraceServiceRequest()
        req.ParseFromString(body)
        with open(OUT, "a") as out:
            for rs in req.resource_spans:
                resource = {a.key: value(a.value) for a in rs.resource.attributes}
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        out.write(json.dumps({
                            "path": self.path,
                            "content_type": self.headers.get("Content-Type"),
                            "auth": self.headers.get("Authorization"),
                            "resource": resource,
                            "scope": ss.scope.name,
                            "name": s.name,
                            "kind": s.kind,
                            "trace_id": s.trace_id.hex(),
                            "span_id": s.span_id.hex(),
                            "parent_span_id": s.parent_span_id.hex(),
                            "start": s.start_time_unix_nano,
                            "end": s.end_time_unix_nano,
                            "status_code": s.status.code,
                            "attributes": {a.key: value(a.value) for a in s.attributes},
                        }) + "\n")
        reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402

os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
