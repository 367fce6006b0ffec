"""Tracing for applications, on the OpenTelemetry API and SDK, exporting OTLP to vigil.

    from vigil.sdk import tracing
    tracing.setup("data-pipeline")                 # OTLP/HTTP to http://127.0.0.1:4318

    @tracing.trace_function("load_batch")          # sync or async
    def load_batch(batch_id): ...

    with tracing.add_custom_segment("transform", {"rows": 120}):
        tracing.put_annotation("customer", "acme")  # indexed: filter `annotation.customer`
        tracing.put_metadata("sample", {"a": 1})    # kept, not indexed

What vigil makes of it (README, "X-Ray and OpenTelemetry"): attributes with plain keys
(letters, digits, ``_``) and scalar values are annotations, searchable with filter
expressions; ``metadata.<namespace>.<key>`` attributes are metadata. ``trace_function``
records ``status`` = ``success``/``error`` and, on an exception, ``error_type`` (the
exception class) as annotations, records the exception and sets the span status to ERROR,
then re-raises. ``setup`` installs W3C trace context and, when
``opentelemetry-propagator-aws-xray`` is installed, the ``X-Amzn-Trace-Id`` propagator, so
traces continue across services traced with aws_xray_sdk; and it switches on the
OpenTelemetry instrumentations for requests, httpx and botocore that are installed.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, ParamSpec, TypeVar, cast, overload

import orjson
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.trace import Span, Status, StatusCode

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

_INVALID_KEY = re.compile(r"[^A-Za-z0-9_]")
_INSTRUMENTATIONS = (
    ("opentelemetry.instrumentation.requests", "RequestsInstrumentor"),
    ("opentelemetry.instrumentation.httpx", "HTTPXClientInstrumentor"),
    ("opentelemetry.instrumentation.botocore", "BotocoreInstrumentor"),
)

_provider: TracerProvider | None = None


def setup(
    service_name: str,
    endpoint: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    resource: Mapping[str, Any] | None = None,
    sampler: Sampler | None = None,
    batch: bool = True,
    instrument: bool = True,
    set_global: bool = True,
) -> TracerProvider:
    """One call: a tracer provider exporting OTLP/HTTP to vigil, propagators, instrumentations.

    ``endpoint`` defaults to ``$OTEL_EXPORTER_OTLP_ENDPOINT`` or ``http://127.0.0.1:4318``.
    ``batch=False`` exports each span as it ends (tests, short scripts).
    """
    global _provider
    base = endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    exporter = OTLPSpanExporter(
        endpoint=base.rstrip("/") + "/v1/traces", headers=dict(headers or {})
    )
    attrs = {"service.name": service_name, **(resource or {})}
    provider = TracerProvider(resource=Resource.create(attrs), sampler=sampler)
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    _provider = provider
    if set_global:
        trace.set_tracer_provider(provider)
    propagate.set_global_textmap(_propagator())
    if instrument:
        for module_name, class_name in _INSTRUMENTATIONS:
            _instrument(module_name, class_name, provider)
    return provider


def shutdown() -> None:
    """Export what is pending and stop (call at exit)."""
    if _provider is not None:
        _provider.shutdown()


def _propagator() -> TextMapPropagator:
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    propagators: list[TextMapPropagator] = [
        TraceContextTextMapPropagator(),
        W3CBaggagePropagator(),
    ]
    try:
        from opentelemetry.propagators.aws import AwsXRayPropagator
    except ImportError:
        pass
    else:
        propagators.append(AwsXRayPropagator())
    return CompositePropagator(propagators)


def _instrument(module_name: str, class_name: str, provider: TracerProvider) -> None:
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return
    instrumentor = getattr(module, class_name)()
    if not instrumentor.is_instrumented_by_opentelemetry:
        try:
            instrumentor.instrument(tracer_provider=provider)
        except Exception:  # an instrumented library missing or too old: trace the rest
            log.warning("could not switch on %s", class_name, exc_info=True)


def tracer() -> trace.Tracer:
    provider = _provider or trace.get_tracer_provider()
    return provider.get_tracer("vigil.sdk.tracing")


def annotation_key(key: str) -> str:
    """X-Ray allows letters, digits and '_' in annotation keys: others become '_'."""
    return _INVALID_KEY.sub("_", key)[:500] or "_"


def put_annotation(key: str, value: str | int | float | bool) -> None:
    """An indexed, searchable value on the current span (``annotation.KEY`` in filters)."""
    if not isinstance(value, str | int | float | bool):
        raise TypeError("annotation values are strings, numbers or booleans")
    trace.get_current_span().set_attribute(annotation_key(key), value)


def put_metadata(key: str, value: Any, namespace: str = "default") -> None:
    """A value kept with the current span, not indexed; any JSON-serialisable object."""
    if isinstance(value, str | bool | int | float):
        stored: Any = value
    else:
        stored = orjson.dumps(value, default=str).decode()
    trace.get_current_span().set_attribute(f"metadata.{namespace}.{key}", stored)


@contextlib.contextmanager
def add_custom_segment(name: str, metadata: Mapping[str, Any] | None = None) -> Iterator[Span]:
    """A child span around a block, with optional metadata; exceptions mark it failed."""
    with tracer().start_as_current_span(name, record_exception=False) as span:
        for key, value in (metadata or {}).items():
            put_metadata(key, value)
        try:
            yield span
        except BaseException as exc:
            _failed(span, exc)
            raise


def _failed(span: Span, exc: BaseException) -> None:
    span.set_attribute("status", "error")
    span.set_attribute("error_type", type(exc).__name__)
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


@overload
def trace_function(
    name: str | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


@overload
def trace_function(name: Callable[P, R]) -> Callable[P, R]: ...


def trace_function(name: Any = None) -> Any:
    """Trace each call of a function (sync or async) as a span named ``name`` (default: the
    function's qualified name), with annotations ``status`` and, on failure, ``error_type``."""
    if callable(name):
        return trace_function(None)(name)

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        span_name = name or func.__qualname__
        if inspect.iscoroutinefunction(func):
            afunc = cast(Callable[P, Awaitable[Any]], func)

            @functools.wraps(func)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                with tracer().start_as_current_span(
                    span_name, record_exception=False, set_status_on_exception=False
                ) as span:
                    try:
                        result = await afunc(*args, **kwargs)
                    except BaseException as exc:
                        _failed(span, exc)
                        raise
                    span.set_attribute("status", "success")
                    return result

            return cast(Callable[P, R], run_async)

        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with tracer().start_as_current_span(
                span_name, record_exception=False, set_status_on_exception=False
            ) as span:
                try:
                    result = func(*args, **kwargs)
                except BaseException as exc:
                    _failed(span, exc)
                    raise
                span.set_attribute("status", "success")
                return result

        return run

    return decorate
