"""The design's TracingHelper, written on the plain aws_xray_sdk API its names imply
(the original was not available): a decorator recording ``status``/``error_type``
annotations, custom segments with metadata, ``put_annotation``/``put_metadata``, and
``patch_all()``. Apps only set ``AWS_XRAY_DAEMON_ADDRESS`` to reach vigil's daemon."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from aws_xray_sdk.core import patch_all, xray_recorder

F = TypeVar("F", bound=Callable[..., Any])


class TracingHelper:
    def __init__(self, service_name: str, sampling: bool = True) -> None:
        self.service_name = service_name
        xray_recorder.configure(
            service=service_name, sampling=sampling, context_missing="LOG_ERROR"
        )
        patch_all()

    def trace_function(self, name: str) -> Callable[[F], F]:
        def decorate(func: F) -> F:
            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with xray_recorder.in_subsegment(name) as subsegment:
                    try:
                        result = func(*args, **kwargs)
                    except Exception as exc:
                        subsegment.put_annotation("status", "error")
                        subsegment.put_annotation("error_type", type(exc).__name__)
                        raise
                    subsegment.put_annotation("status", "success")
                    return result

            return wrapper  # type: ignore[return-value]

        return decorate

    @contextmanager
    def add_custom_segment(
        self, name: str, metadata: dict[str, Any] | None = None
    ) -> Iterator[Any]:
        with xray_recorder.in_subsegment(name) as subsegment:
            for key, value in (metadata or {}).items():
                subsegment.put_metadata(key, value, self.service_name)
            yield subsegment

    @staticmethod
    def put_annotation(key: str, value: Any) -> None:
        entity = xray_recorder.current_subsegment() or xray_recorder.current_segment()
        entity.put_annotation(key, value)

    def put_metadata(self, key: str, value: Any) -> None:
        entity = xray_recorder.current_subsegment() or xray_recorder.current_segment()
        entity.put_metadata(key, value, self.service_name)
