#!/usr/bin/env python3
"""A local OTLP/HTTP receiver for measuring tether with trace export on:
accepts POST /v1/traces, answers 200 with an empty ExportTraceServiceResponse,
and counts requests and bytes (printed on SIGINT/SIGTERM). It does not decode
the spans; tests/it/telemetry.rs checks what they say.

    scripts/otlp-sink.py 4318 &
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 scripts/bench.sh ingest drain
"""
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

received = {"requests": 0, "bytes": 0}


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        self.rfile.read(length)
        received["requests"] += 1
        received["bytes"] += length
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def report(*_):
    print(f"otlp-sink: {received['requests']} requests, {received['bytes']} bytes", file=sys.stderr)
    sys.exit(0)


signal.signal(signal.SIGTERM, report)
signal.signal(signal.SIGINT, report)
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 4318), Sink).serve_forever()
