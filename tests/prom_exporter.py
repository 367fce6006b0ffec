"""A node-exporter-style HTTP endpoint for scrape tests: serves whatever exposition the test
sets (Prometheus text or OpenMetrics), on a free port, in a thread; counts its scrapes."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

NODE_TEXT = """\
# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 1000.5
node_cpu_seconds_total{cpu="0",mode="user"} 200.25
# HELP node_memory_MemAvailable_bytes Memory information field MemAvailable_bytes.
# TYPE node_memory_MemAvailable_bytes gauge
node_memory_MemAvailable_bytes 8.123456e+09
# HELP node_filesystem_avail_bytes Filesystem space available.
# TYPE node_filesystem_avail_bytes gauge
node_filesystem_avail_bytes{device="/dev/sda1",mountpoint="/"} 5e+10
node_filesystem_avail_bytes{device="tmpfs",mountpoint="/run"} 1e+08
# HELP http_request_duration_seconds Request latency.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.1"} 3
http_request_duration_seconds_bucket{le="0.5"} 7
http_request_duration_seconds_bucket{le="+Inf"} 9
http_request_duration_seconds_sum 2.5
http_request_duration_seconds_count 9
# TYPE exporter_info gauge
exporter_info{job="exporter-own-job",version="1.2"} 1
"""


class Exporter:
    def __init__(self) -> None:
        self.body = NODE_TEXT
        self.content_type = TEXT
        self.status = 200
        self.delay = 0.0  # seconds before answering (a slow target)
        self.release = threading.Event()
        self.requests: list[tuple[str, dict[str, str]]] = []
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                exporter.requests.append((self.path, dict(self.headers)))
                if exporter.delay:
                    exporter.release.wait(exporter.delay)
                body = exporter.body.encode()
                self.send_response(exporter.status)
                self.send_header("Content-Type", exporter.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
