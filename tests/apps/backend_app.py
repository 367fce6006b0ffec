"""A service traced with OpenTelemetry through vigil.sdk.tracing (OTLP to vigil) that
continues traces from its callers' X-Amzn-Trace-Id or traceparent headers.

argv: OTLP/HTTP base URL. Prints its port, serves one request, then exits."""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from opentelemetry import propagate
from opentelemetry.trace import SpanKind

from vigil.sdk import tracing


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        context = propagate.extract(dict(self.headers.items()))
        with tracing.tracer().start_as_current_span(
            f"GET {self.path}", context=context, kind=SpanKind.SERVER
        ) as span:
            span.set_attribute("http.request.method", "GET")
            span.set_attribute("url.path", self.path)
            with tracing.add_custom_segment("load-orders", {"table": "orders"}):
                tracing.put_annotation("rows", 3)
            span.set_attribute("http.response.status_code", 200)
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    tracing.setup("backend", sys.argv[1], batch=False, instrument=False)
    server = HTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.handle_request()
    tracing.shutdown()
