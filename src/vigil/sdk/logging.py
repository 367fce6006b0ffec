"""Structured logging for applications, shipped to vigil over OTLP.

``StructuredLogger(name, level)`` writes one JSON object per event::

    {"timestamp": "2026-11-25T10:00:00.123Z", "level": "ERROR", "logger": "orders",
     "message": "payment failed", "module": "billing", "function": "charge", "line": 42,
     "order_id": 7, "error_type": "TimeoutError", "error_message": "...", "traceback": "..."}

``info/warning/error(message, **fields)`` add the fields; ``error(..., error=exc)`` adds
``error_type``, ``error_message`` and ``traceback``. Lines go to the handlers given (by
default standard error). ``VigilHandler`` is a standard ``logging.Handler`` that sends
records to vigil's OTLP/HTTP endpoint in batches from a background thread: ``emit`` never
blocks (it only appends to a bounded buffer); when vigil is unreachable the oldest records
are dropped past ``max_buffer`` and counted in ``dropped``; trace and span ids of the active
OpenTelemetry span (if the API is installed) ride along. ``MemoryHandler`` keeps the JSON
objects in memory, for tests.
"""

from __future__ import annotations

import collections
import logging
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

_RESERVED = ("timestamp", "level", "logger", "message", "module", "function", "line")
_FIELDS_ATTR = "vigil_fields"
_SEVERITY = {
    logging.DEBUG: (5, "DEBUG"),
    logging.INFO: (9, "INFO"),
    logging.WARNING: (13, "WARNING"),
    logging.ERROR: (17, "ERROR"),
    logging.CRITICAL: (21, "CRITICAL"),
}


def _severity(levelno: int) -> tuple[int, str]:
    best = (9, "INFO")
    for threshold, value in sorted(_SEVERITY.items()):
        if levelno >= threshold:
            best = value
    return best


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The JSON object of one record, in the shape the module docstring shows."""
    stamp = datetime.fromtimestamp(record.created, tz=UTC)
    out: dict[str, Any] = {
        "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
        "level": record.levelname,
        "logger": record.name,
        "message": record.getMessage(),
        "module": record.module,
        "function": record.funcName,
        "line": record.lineno,
    }
    extra = getattr(record, _FIELDS_ATTR, None)
    if isinstance(extra, Mapping):
        for key, value in extra.items():
            out[key if key not in _RESERVED else f"field_{key}"] = value
    if record.exc_info and record.exc_info[1] is not None and "error_type" not in out:
        exc = record.exc_info[1]
        out["error_type"] = type(exc).__name__
        out["error_message"] = str(exc)
        out["traceback"] = "".join(traceback.format_exception(*record.exc_info))
    return out


def json_line(record: logging.LogRecord) -> str:
    return orjson.dumps(record_fields(record), default=str).decode()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json_line(record)


class StructuredLogger:
    def __init__(
        self,
        name: str,
        level: int | str = logging.INFO,
        handlers: Iterable[logging.Handler] | None = None,
    ) -> None:
        self.logger = logging.getLogger(name)
        self.logger.setLevel(level)
        self.logger.propagate = False
        chosen = list(handlers) if handlers is not None else [logging.StreamHandler(sys.stderr)]
        for handler in chosen:
            if handler.formatter is None:
                handler.setFormatter(JsonFormatter())
            if handler not in self.logger.handlers:
                self.logger.addHandler(handler)

    def _log(
        self, level: int, message: str, error: BaseException | None, fields: dict[str, Any]
    ) -> None:
        if not self.logger.isEnabledFor(level):
            return
        if error is not None:
            fields = {
                **fields,
                "error_type": type(error).__name__,
                "error_message": str(error),
                "traceback": "".join(
                    traceback.format_exception(type(error), error, error.__traceback__)
                ),
            }
        self.logger.log(level, message, extra={_FIELDS_ATTR: fields}, stacklevel=3)

    def debug(self, message: str, **fields: Any) -> None:
        self._log(logging.DEBUG, message, None, fields)

    def info(self, message: str, **fields: Any) -> None:
        self._log(logging.INFO, message, None, fields)

    def warning(self, message: str, **fields: Any) -> None:
        self._log(logging.WARNING, message, None, fields)

    def error(self, message: str, error: BaseException | None = None, **fields: Any) -> None:
        self._log(logging.ERROR, message, error, fields)

    def critical(self, message: str, error: BaseException | None = None, **fields: Any) -> None:
        self._log(logging.CRITICAL, message, error, fields)


class MemoryHandler(logging.Handler):
    """Keeps each record's JSON object in ``records`` (a test double)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record_fields(record))


def _active_span_ids() -> tuple[bytes, bytes]:
    try:
        from opentelemetry import trace
    except ImportError:
        return b"", b""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return b"", b""
    return ctx.trace_id.to_bytes(16, "big"), ctx.span_id.to_bytes(8, "big")


class VigilHandler(logging.Handler):
    """Ships records to vigil (OTLP/HTTP protobuf) in batches; see the module docstring."""

    def __init__(
        self,
        endpoint: str = "http://127.0.0.1:4318",
        *,
        service_name: str = "app",
        log_group: str | None = None,
        log_stream: str | None = None,
        headers: Mapping[str, str] | None = None,
        batch_size: int = 512,
        flush_interval: float = 1.0,
        max_buffer: int = 10_000,
        timeout: float = 5.0,
        retry_interval: float = 2.0,
    ) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.url = endpoint.rstrip("/") + "/v1/logs"
        self.headers = {"Content-Type": "application/x-protobuf", **(headers or {})}
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self.timeout = timeout
        self.retry_interval = retry_interval
        self.resource = {
            "service.name": service_name,
            "host.name": socket.gethostname(),
            "aws.log.group.names": [log_group or service_name],
            "aws.log.stream.names": [log_stream or socket.gethostname()],
        }
        self.dropped = 0
        self.sent = 0
        self.failures = 0
        self._buffer: collections.deque[tuple[int, int, str, str, bytes, bytes, str]] = (
            collections.deque()
        )
        self._cond = threading.Condition()
        self._in_flight = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="vigil-log-shipper", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            body = self.format(record)
            number, text = _severity(record.levelno)
            trace_id, span_id = _active_span_ids()
            item = (int(record.created * 1e9), number, text, body, trace_id, span_id, record.name)
            with self._cond:
                if len(self._buffer) >= self.max_buffer:
                    self._buffer.popleft()
                    self.dropped += 1
                self._buffer.append(item)
                if len(self._buffer) >= self.batch_size:
                    self._cond.notify()
        except Exception:
            self.handleError(record)

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def _take(self) -> list[tuple[int, int, str, str, bytes, bytes, str]]:
        with self._cond:
            if not self._closed and len(self._buffer) < self.batch_size:
                self._cond.wait(self.flush_interval)
            batch = [self._buffer.popleft() for _ in range(min(self.batch_size, len(self._buffer)))]
            self._in_flight = len(batch)
            return batch

    def _run(self) -> None:
        import httpx

        with httpx.Client(timeout=self.timeout) as client:
            while True:
                batch = self._take()
                if batch:
                    ok = self._send(client, batch)
                    with self._cond:
                        self._in_flight = 0
                        if not ok:
                            # Put the batch back in front, within the bound; wait before retrying.
                            for item in reversed(batch):
                                if len(self._buffer) >= self.max_buffer:
                                    self.dropped += 1
                                    continue
                                self._buffer.appendleft(item)
                        self._cond.notify_all()
                    if not ok:
                        with self._cond:
                            if self._closed:
                                return
                            self._cond.wait(self.retry_interval)
                        continue
                with self._cond:
                    self._cond.notify_all()
                    if self._closed and not self._buffer:
                        return

    def _send(self, client: Any, batch: list[tuple[int, int, str, str, bytes, bytes, str]]) -> bool:
        import httpx

        try:
            response = client.post(self.url, content=self._encode(batch), headers=self.headers)
        except httpx.HTTPError:
            self.failures += 1
            return False
        if response.status_code == 200:
            self.sent += len(batch)
            return True
        self.failures += 1
        if response.status_code in (429, 502, 503, 504):
            return False
        self.dropped += len(batch)  # refused for good (400, 401, 413): retrying cannot help
        return True

    def _encode(self, batch: list[tuple[int, int, str, str, bytes, bytes, str]]) -> bytes:
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
            ExportLogsServiceRequest,
        )
        from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

        request = ExportLogsServiceRequest()
        rl = request.resource_logs.add()
        for key, value in self.resource.items():
            if isinstance(value, list):
                rl.resource.attributes.append(
                    KeyValue(
                        key=key,
                        value=AnyValue(
                            array_value=ArrayValue(values=[AnyValue(string_value=v) for v in value])
                        ),
                    )
                )
            else:
                rl.resource.attributes.append(
                    KeyValue(key=key, value=AnyValue(string_value=str(value)))
                )
        scopes: dict[str, Any] = {}
        for ts, number, text, body, trace_id, span_id, name in batch:
            scope = scopes.get(name)
            if scope is None:
                scope = scopes[name] = rl.scope_logs.add()
                scope.scope.name = name
            record = scope.log_records.add()
            record.time_unix_nano = ts
            record.observed_time_unix_nano = time.time_ns()
            record.severity_number = number
            record.severity_text = text
            record.body.string_value = body
            if trace_id:
                record.trace_id = trace_id
                record.span_id = span_id
        return bytes(request.SerializeToString())

    def flush(self) -> None:
        self.wait_sent(self.timeout)

    def wait_sent(self, timeout: float = 10.0) -> bool:
        """Wait until everything buffered was sent (or ``timeout``); True when empty."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.notify_all()
            while self._buffer or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.notify_all()
                self._cond.wait(min(remaining, 0.05))
        return True

    def close(self) -> None:
        self.wait_sent(self.timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(self.timeout + 1)
        super().close()
