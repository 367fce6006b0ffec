"""vigil: self-hosted observability — metrics, logs, traces, alarms, notifications, one process."""

__version__ = "0.1.0"
