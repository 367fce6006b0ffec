"""Time as the APIs print it, shared by the query modules that build answers and the API.

``rfc3339`` prints nanoseconds since the epoch in UTC with all nine fraction digits, so
that the text sorts as the time does and no precision is lost.
"""

from __future__ import annotations

import time


def rfc3339(ns: int) -> str:
    seconds, nanos = divmod(int(ns), 10**9)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"
