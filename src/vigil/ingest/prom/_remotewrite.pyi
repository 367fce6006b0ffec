import pyarrow as pa

class Decline(Exception): ...

def decode(body: bytes, tenant: str, now_ns: int) -> tuple[pa.Table | None, int, int] | None: ...

# exemplars: series name, series labels, exemplar labels, timestamp ms, value
Exemplar = tuple[str, list[tuple[str, str]], list[tuple[str, str]], int, float]

def decode_v2(
    body: bytes, tenant: str, now_ns: int
) -> tuple[pa.Table | None, int, int, list[tuple[str, int, str, str]], list[Exemplar]] | None: ...
