"""vigil: self-hosted observability in one process — metrics, logs and traces."""

__version__ = "0.1.0"
