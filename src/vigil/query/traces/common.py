"""What the X-Ray reads share: trace ids as stored, and the hour a trace may outlast its
window."""

from __future__ import annotations

HOUR_NS = 3600 * 10**9
SLACK_NS = HOUR_NS  # how long after the window a trace that started in it may still run
