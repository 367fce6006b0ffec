"""Types of the native X-Ray segment decoder (``_xray.pyx``)."""

from collections.abc import Callable, Sequence

import pyarrow as pa

class Declined(Exception): ...

def decode(
    docs: Sequence[bytes | str],
    tenant: str,
    now_ns: int,
    known: dict[tuple[str, bytes], str],
    limit: int,
    fallback: Callable[[int], None],
) -> pa.Table | None: ...

class Receiver:
    def __init__(self, fd: int) -> None: ...
    def receive(self, timeout_ms: int) -> tuple[list[bytes], list[bytes]]: ...
