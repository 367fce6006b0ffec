"""Types of the native PutMetricData decoder (``_putmetricdata.pyx``)."""

from vigil.model.metrics import MetricColumns

UNIT_LIST: list[str]

class Decline(Exception): ...

def decode(body: bytes, tenant: str, now_ns: int) -> MetricColumns | None: ...
