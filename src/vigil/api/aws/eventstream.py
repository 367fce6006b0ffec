"""Event-stream answers (``application/vnd.amazon.eventstream``) for operations whose
output has an ``eventstream`` member (CloudWatch Logs StartLiveTail …).

The contract with a handler: it returns its output with the stream member set to an
async iterator of ``(event name, body)``; the event name is a member of the stream's
union (an event such as ``sessionUpdate``, or an exception such as
``SessionTimeoutException``, after which the handler ends the iterator). The front door
answers 200 at once and writes, as AWS's JSON protocols do:

1. an ``initial-response`` event whose payload is the output's other members (botocore
   reads it first and refuses a stream without it);
2. one message per item: ``:message-type`` ``event`` with ``:event-type`` NAME, or
   ``exception`` with ``:exception-type`` NAME, ``:content-type`` ``application/json``,
   the body serialized along the member's shape.

Message framing (the AWS event stream encoding): total length and headers length (two
big-endian uint32), the CRC32 of those 8 bytes, headers (name length u8, name, type 7 =
string, value length u16, value), payload, CRC32 of everything before it. If the client
goes away, Starlette cancels the iteration (the handler's ``finally`` blocks run).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
from botocore.model import OperationModel
from starlette.responses import StreamingResponse

from vigil.api.aws import protocols

MEDIA_TYPE = "application/vnd.amazon.eventstream"
_STRING = 7


def message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream message."""
    parts = []
    for name, value in headers.items():
        key, text = name.encode(), value.encode()
        parts.append(struct.pack(">B", len(key)) + key + struct.pack(">BH", _STRING, len(text)))
        parts.append(text)
    encoded = b"".join(parts)
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    head = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return head + struct.pack(">I", zlib.crc32(head))


def answer(op_model: OperationModel, output: dict[str, Any], request_id: str) -> StreamingResponse:
    """The streaming HTTP answer of an event-stream operation's ``output``."""
    shape = op_model.output_shape
    assert shape is not None
    name = shape.event_stream_name
    events: AsyncIterator[tuple[str, dict[str, Any]]] = output[name]
    union = shape.members[name]
    rest = {k: v for k, v in output.items() if k != name}

    async def body() -> AsyncIterator[bytes]:
        initial = protocols.to_json(rest, shape) or {}
        yield message(
            {":message-type": "event", ":event-type": "initial-response",
             ":content-type": "application/json"},
            orjson.dumps(initial),
        )  # fmt: skip
        async for event, value in events:
            member = union.members[event]
            kind = "exception" if member.metadata.get("exception") else "event"
            yield message(
                {":message-type": kind, f":{kind}-type": event,
                 ":content-type": "application/json"},
                orjson.dumps(protocols.to_json(value, member) or {}),
            )  # fmt: skip

    return StreamingResponse(
        body(), 200, media_type=MEDIA_TYPE, headers={"x-amzn-RequestId": request_id}
    )
