#!/usr/bin/env python3
"""An OTLP/HTTP trace receiver for the tests: a collector's front door and
nothing else.

    otlp_receiver.py SPANS.jsonl

Binds 127.0.0.1 on a free port and prints `listening PORT` (flushed). Each
`POST /v1/traces` with `Content-Type: application/x-protobuf` (gzip when
`Content-Encoding: gzip`) is decoded with the OpenTelemetry project's own
protobuf bindings (PyPI `opentelemetry-proto`), an implementation
independent of the Rust exporter's, and answered 200 with an empty
ExportTraceServiceResponse. Every span is appended to SPANS.jsonl as one JSON
object:

    {"traceId", "spanId", "parentSpanId", "name", "kind",
     "startTimeUnixNano", "endTimeUnixNano", "attributes": {k: v},
     "status": {"code"}, "resource": {k: v}}

ids as lowercase hex (`parentSpanId` "" for a root span), `kind` and
`status.code` as the protocol's numbers (SERVER 2, CLIENT 3, INTERNAL 1;
status ERROR 2), attribute values as JSON strings, numbers and booleans.
Anything else is answered 4xx and written to stderr. Runs until killed.
"""

import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


def any_value(value):
    """An AnyValue as the JSON value it holds."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def attributes(pairs):
    return {kv.key: any_value(kv.value) for kv in pairs}


def spans_of(request):
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield {
                    "traceId": span.trace_id.hex(),
                    "spanId": span.span_id.hex(),
                    "parentSpanId": span.parent_span_id.hex(),
                    "name": span.name,
                    "kind": span.kind,
                    "startTimeUnixNano": span.start_time_unix_nano,
                    "endTimeUnixNano": span.end_time_unix_nano,
                    "attributes": attributes(span.attributes),
                    "status": {"code": span.status.code},
                    "resource": resource,
                }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    out_path = None
    lock = threading.Lock()

    def refuse(self, status, why):
        sys.stderr.write(f"otlp_receiver: {status} {why}\n")
        body = why.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path != "/v1/traces":
            return self.refuse(404, f"no such path: {self.path}")
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type != "application/x-protobuf":
            return self.refuse(415, f"not application/x-protobuf: {content_type!r}")
        encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        try:
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding != "identity":
                return self.refuse(415, f"unknown Content-Encoding: {encoding}")
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
        except Exception as error:  # noqa: BLE001 - any decoding failure is the sender's
            return self.refuse(400, f"cannot decode the request: {error}")
        lines = [json.dumps(span) + "\n" for span in spans_of(request)]
        with self.lock, open(self.out_path, "a", encoding="utf-8") as out:
            out.writelines(lines)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self):
        self.refuse(405, "POST spans to /v1/traces")

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: otlp_receiver.py SPANS.jsonl")
    Handler.out_path = sys.argv[1]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
