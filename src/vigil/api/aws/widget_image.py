"""CloudWatch's GetMetricWidgetImage: a MetricWidget JSON → a PNG graph, drawn on the
server (``vigil.render``), answered base64 in ``MetricWidgetImage`` as the SDKs expect.

OutputFormat ``png`` (the default) is the only one answered: AWS's other value,
``image/png``, makes AWS send the bare PNG body "for custom HTTP requests"; the front
door answers every operation in the protocol's envelope, so that value is refused with
InvalidParameterValue (README lists it). A widget that cannot be drawn (bad JSON, a
field out of range, an unknown statistic, a bad expression) is InvalidParameterValue
naming the field, as CloudWatch's validation of MetricWidget does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from vigil.api.aws.interface import AwsError, AwsService, Handler, RequestContext
from vigil.query import metrics as md
from vigil.query.metricmath.functions import FunctionTable, default_functions
from vigil.render.image import widget_png
from vigil.render.widget import WidgetImageError, parse
from vigil.store.interface import Store
from vigil.store.retention import MetricRetention


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
        functions: FunctionTable | None = None,
    ) -> None:
        self._store = store
        # GetMetricData's metric math (the server's table), not the default one.
        self._functions = functions if functions is not None else default_functions()
        self._retention = retention
        self._clock = clock
        self._search_limit = search_limit

    def operations(self) -> Mapping[str, Handler]:
        return {"GetMetricWidgetImage": self._image}

    async def _image(self, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        fmt = params.get("OutputFormat", "png")
        if fmt != "png":
            raise AwsError(
                "InvalidParameterValue",
                f"OutputFormat {fmt!r} is not supported: use png (the image comes back"
                " base64-encoded in MetricWidgetImage)",
            )
        now = self._clock() // 10**9
        try:
            widget = parse(params["MetricWidget"], now)
            fetch = md.Fetch(self._store, self._retention, ctx.tenant, now)
            image = await widget_png(fetch, widget, self._search_limit, self._functions)
        except WidgetImageError as exc:
            raise AwsError("InvalidParameterValue", str(exc)) from None
        return {"MetricWidgetImage": image}
