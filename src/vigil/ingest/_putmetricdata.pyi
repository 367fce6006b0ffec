"""Types of the native PutMetricData decoder (``_putmetricdata.pyx``)."""

from vigil.model.metrics import MetricColumns

class Decline(Exception): ...

def decode(body: bytes, tenant: str, now_ns: int) -> MetricColumns | None: ...
