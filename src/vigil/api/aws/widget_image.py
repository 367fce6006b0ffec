"""CloudWatch's GetMetricWidgetImage: a MetricWidget JSON → a PNG graph, drawn on the
server (``vigil.render``, with the server's metric math: ANOMALY_DETECTION_BAND rows are
shaded bands).

``OutputFormat`` as AWS documents it: ``png`` (the default) answers in the protocol's
envelope with the image in ``MetricWidgetImage`` (base64 in XML/JSON), which is what the
SDKs read; ``image/png`` answers the bare PNG as the HTTP body with content type
``image/png`` ("intended only for custom HTTP requests": botocore's parsers expect the
envelope, so SDK clients should use png). Any other value is InvalidParameterValue. A
widget that cannot be drawn (bad JSON, a field out of range, an unknown statistic, a bad
expression) is InvalidParameterValue naming the field, as CloudWatch's validation of
MetricWidget does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from vigil.api.aws.interface import (
    RAW_BODY,
    AwsError,
    AwsService,
    Handler,
    RawBody,
    RequestContext,
)
from vigil.query import metrics as md
from vigil.query.metricmath.evaluator import DEFAULT_FUNCTIONS
from vigil.query.metricmath.functions import FunctionTable
from vigil.render.image import widget_png
from vigil.render.widget import WidgetImageError, parse
from vigil.store.interface import Store
from vigil.store.retention import MetricRetention

FORMATS = ("png", "image/png")


class WidgetImageService(AwsService):
    model = "cloudwatch"
    validation_error = "InvalidParameterValue"
    missing_parameter_error = "MissingParameter"

    def __init__(
        self,
        store: Store,
        retention: MetricRetention,
        clock: Callable[[], int] = time.time_ns,
        search_limit: int = 500,
        functions: FunctionTable = DEFAULT_FUNCTIONS,
    ) -> None:
        self._functions = functions  # read per request: pillars register theirs at build
        self._store = store
        self._retention = retention
        self._clock = clock
        self._search_limit = search_limit

    def operations(self) -> Mapping[str, Handler]:
        return {"GetMetricWidgetImage": self._image}

    async def _image(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        fmt = params.get("OutputFormat", "png")
        if fmt not in FORMATS:
            raise AwsError(
                "InvalidParameterValue",
                f"OutputFormat {fmt!r} is not supported: one of {', '.join(FORMATS)}",
            )
        now = self._clock() // 10**9
        try:
            widget = parse(params["MetricWidget"], now)
            fetch = md.Fetch(self._store, self._retention, ctx.tenant, now)
            image = await widget_png(fetch, widget, self._search_limit, self._functions)
        except WidgetImageError as exc:
            raise AwsError("InvalidParameterValue", str(exc)) from None
        if fmt == "image/png":
            return {RAW_BODY: RawBody(image, "image/png")}
        return {"MetricWidgetImage": image}
