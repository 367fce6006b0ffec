"""A service traced with aws_xray_sdk that calls a backend over HTTP (requests, patched).

argv: backend URL. Prints the trace id."""

from __future__ import annotations

import sys

import requests
from aws_xray_sdk.core import patch_all, xray_recorder

xray_recorder.configure(service="frontend", sampling=False, context_missing="LOG_ERROR")
patch_all()

if __name__ == "__main__":
    segment = xray_recorder.begin_segment("frontend")
    segment.put_http_meta("method", "GET")
    segment.put_http_meta("url", "http://frontend.local/checkout")
    response = requests.get(sys.argv[1], timeout=30)
    segment.put_http_meta("status", response.status_code)
    xray_recorder.end_segment()
    print(segment.trace_id, flush=True)
