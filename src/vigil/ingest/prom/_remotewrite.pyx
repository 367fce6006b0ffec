# cython: boundscheck=False, wraparound=False, cdivision=True
"""Native remote write: 1.0 ``prometheus.WriteRequest`` and 2.0
``io.prometheus.write.v2.Request`` bytes → metric rows as Arrow.

Contract (``vigil.ingest.prom.remote_write.decode_v1`` / ``decode_v2`` keep it):
``decode(body, tenant, now_ns)`` returns ``(table, samples, skipped)`` — the same rows, in
the same order, as the reference decoder's ``SeriesBatch.decoded(now_ns)`` — or None to
decline; ``decode_v2`` (``_remotewrite_v2.pxi``) returns the same plus the series'
metadata. 1.0: it reads what Prometheus sends between its metadata requests (series of
float samples, labels sorted, ASCII) and declines everything else to the reference
decoder, which also words every refusal: metadata, exemplars or histograms, unsorted or
repeated labels, a series without ``__name__``, non-ASCII text, a timestamp outside the
accepted window, malformed or truncated protobuf (and what protobuf itself refuses: field
number 0, a key or varint over its width). Non-finite values (stale markers) are skipped
and counted, as the reference does.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.string cimport memcpy, memcmp
from libc.math cimport isfinite
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Realloc

import numpy as np
import pyarrow as pa

from vigil.model.common import ATTR_MAP
from vigil.model.metrics import METRIC_SCHEMA
from vigil.model.prometheus import METRIC_TYPE, NAMESPACE, RESOLUTION, UNIT

ctypedef const unsigned char* cptr

cdef int64_t MS = 1000000
cdef int64_t MAX_PAST_NS = 14 * 86400 * 1000000000
cdef int64_t MAX_FUTURE_NS = 2 * 3600 * 1000000000
DEF MAX_LABELS = 128


class Decline(Exception):
    pass


cdef object _DECLINE = Decline()


include "../_columns.pxi"


# ---------------------------------------------------------------- protobuf reading

cdef struct Cursor:
    cptr p
    cptr end


cdef inline uint64_t varint(Cursor* c) except? 0xFFFFFFFFFFFFFFFF:
    cdef uint64_t value = 0
    cdef int shift = 0
    cdef unsigned char byte
    while True:
        if c.p >= c.end or shift > 63:
            raise _DECLINE
        byte = c.p[0]
        c.p += 1
        if shift == 63 and byte > 1:
            raise _DECLINE  # over 64 bits: protobuf's business to word
        value |= (<uint64_t>(byte & 0x7F)) << shift
        if not byte & 0x80:
            return value
        shift += 7


cdef inline uint64_t tag(Cursor* c) except? 0xFFFFFFFFFFFFFFFF:
    """A field's key. Field number 0, or a key over 32 bits, is a protobuf parse error
    (the reference refuses the body): declined."""
    cdef cptr start = c.p
    cdef uint64_t key = varint(c)
    if key < 8 or key > 0xFFFFFFFFULL or c.p - start > 5:
        raise _DECLINE
    return key


cdef inline int skip(Cursor* c, int wire) except -1:
    cdef uint64_t n
    if wire == 0:
        varint(c)
    elif wire == 1:
        if c.end - c.p < 8:
            raise _DECLINE
        c.p += 8
    elif wire == 2:
        n = varint(c)
        if n > <uint64_t>(c.end - c.p):
            raise _DECLINE
        c.p += n
    elif wire == 5:
        if c.end - c.p < 4:
            raise _DECLINE
        c.p += 4
    else:
        raise _DECLINE
    return 0


cdef inline int sub(Cursor* c, Cursor* out) except -1:
    """The length-delimited field at the cursor, as a cursor of its own."""
    cdef uint64_t n = varint(c)
    if n > <uint64_t>(c.end - c.p):
        raise _DECLINE
    out.p = c.p
    out.end = c.p + n
    c.p += n
    return 0


cdef inline int ascii(cptr s, Py_ssize_t n) except -1:
    cdef Py_ssize_t i
    for i in range(n):
        if s[i] >= 0x80:
            raise _DECLINE
    return 0


cdef struct Label:
    cptr name
    Py_ssize_t name_n
    cptr value
    Py_ssize_t value_n


cdef int read_label(Cursor* c, Label* label) except -1:
    cdef uint64_t key
    cdef Cursor field
    label.name_n = label.value_n = 0
    label.name = label.value = c.p
    while c.p < c.end:
        key = tag(c)
        if key == (1 << 3 | 2):
            sub(c, &field)
            label.name, label.name_n = field.p, field.end - field.p
        elif key == (2 << 3 | 2):
            sub(c, &field)
            label.value, label.value_n = field.p, field.end - field.p
        else:
            skip(c, key & 7)
    ascii(label.name, label.name_n)
    ascii(label.value, label.value_n)
    return 0


cdef inline int less(Label* a, Label* b) noexcept:
    """a.name < b.name, bytewise (Prometheus sorts labels so)."""
    cdef Py_ssize_t n = a.name_n if a.name_n < b.name_n else b.name_n
    cdef int cmp = memcmp(a.name, b.name, n)
    return cmp < 0 or (cmp == 0 and a.name_n < b.name_n)


cdef class _Rows:
    cdef StrCol name, keys, values
    cdef Buf dim_offsets, ts, value
    cdef Py_ssize_t n

    def __cinit__(self):
        cdef int32_t zero = 0
        buf_put(&self.name.offsets, &zero, 4)
        buf_put(&self.keys.offsets, &zero, 4)
        buf_put(&self.values.offsets, &zero, 4)
        buf_put(&self.dim_offsets, &zero, 4)

    def __dealloc__(self):
        str_free(&self.name)
        str_free(&self.keys)
        str_free(&self.values)
        PyMem_Free(self.dim_offsets.data)
        PyMem_Free(self.ts.data)
        PyMem_Free(self.value.data)

    cdef object table(self, str tenant):
        cdef Py_ssize_t n = self.n
        cdef Py_ssize_t entries = self.keys.offsets.len // 4 - 1
        zeros8 = pa.py_buffer(bytes(8 * n))
        empty_lists = pa.py_buffer(bytes(4 * (n + 1)))
        pairs = pa.StructArray.from_arrays(
            [str_arrow(&self.keys, entries), str_arrow(&self.values, entries)],
            fields=[ATTR_MAP.key_field, ATTR_MAP.item_field],
        )
        columns = {
            "tenant": constant(tenant, n),
            "namespace": constant(NAMESPACE, n),
            "name": str_arrow(&self.name, n),
            "dimensions": pa.Array.from_buffers(
                ATTR_MAP, n, [None, buf_arrow(&self.dim_offsets)], children=[pairs]),
            "unit": constant(UNIT, n),
            "timestamp": pa.Array.from_buffers(pa.timestamp("ns"), n, [None, buf_arrow(&self.ts)]),
            "start_time": pa.Array.from_buffers(pa.timestamp("ns"), n, [None, zeros8]),
            "resolution": pa.Array.from_buffers(
                pa.uint8(), n, [None, pa.py_buffer(bytes([RESOLUTION]) * n)]),
            "kind": pa.Array.from_buffers(pa.uint8(), n, [None, pa.py_buffer(bytes(n))]),
            "value": pa.Array.from_buffers(pa.float64(), n, [None, buf_arrow(&self.value)]),
            "count": pa.Array.from_buffers(
                pa.float64(), n, [None, pa.py_buffer(np.ones(n, dtype=np.float64))]),
            "min": pa.Array.from_buffers(pa.float64(), n, [None, zeros8]),
            "max": pa.Array.from_buffers(pa.float64(), n, [None, zeros8]),
            "bounds": pa.Array.from_buffers(
                pa.list_(pa.float64()), n, [None, empty_lists],
                children=[pa.array([], pa.float64())]),
            "buckets": pa.Array.from_buffers(
                pa.list_(pa.uint64()), n, [None, empty_lists],
                children=[pa.array([], pa.uint64())]),
            "metric_type": constant(METRIC_TYPE, n),
            "stream_id": pa.Array.from_buffers(pa.uint64(), n, [None, zeros8]),
            "cumulative": pa.Array.from_buffers(pa.float64(), n, [None, zeros8]),
        }
        return pa.Table.from_arrays(
            [columns[f] for f in METRIC_SCHEMA.names], schema=METRIC_SCHEMA)


cdef int series(Cursor* c, _Rows rows, int64_t lo_ms, int64_t hi_ms, Py_ssize_t* skipped) except -1:
    cdef Label labels[MAX_LABELS]
    cdef Py_ssize_t count = 0, name_at = -1
    cdef uint64_t key
    cdef Cursor field
    cdef cptr start = c.p
    # Pass 1: the labels (and nothing but float samples besides them).
    while c.p < c.end:
        key = tag(c)
        if key == (1 << 3 | 2):
            if count == MAX_LABELS:
                raise _DECLINE
            sub(c, &field)
            read_label(&field, &labels[count])
            if labels[count].name_n == 0:
                raise _DECLINE
            if count and not less(&labels[count - 1], &labels[count]):
                raise _DECLINE  # unsorted or repeated: the reference decides
            if labels[count].name_n == 8 and memcmp(labels[count].name, b"__name__", 8) == 0:
                name_at = count
            count += 1
        elif key == (2 << 3 | 2):
            skip(c, 2)
        else:
            raise _DECLINE  # exemplars, histograms, unknown fields
    if name_at < 0 or labels[name_at].value_n == 0:
        raise _DECLINE
    # Pass 2: the samples.
    c.p = start
    return put_samples(c, rows, labels, count, name_at, lo_ms, hi_ms, skipped)


cdef int put_samples(
    Cursor* c, _Rows rows, Label* labels, Py_ssize_t count, Py_ssize_t name_at,
    int64_t lo_ms, int64_t hi_ms, Py_ssize_t* skipped,
) except -1:
    """The series' samples (field 2 in 1.0 and 2.0, the same ``Sample`` message) as rows:
    its name, its labels but ``__name__`` (sorted by name; empty values left out)."""
    cdef uint64_t key
    cdef Cursor sample
    cdef double value
    cdef int64_t ts, ts_ns
    cdef int32_t end
    cdef Py_ssize_t i
    while c.p < c.end:
        key = tag(c)
        if key != (2 << 3 | 2):
            skip(c, key & 7)
            continue
        sub(c, &sample)
        value = 0.0
        ts = 0
        while sample.p < sample.end:
            key = tag(&sample)
            if key == (1 << 3 | 1):
                if sample.end - sample.p < 8:
                    raise _DECLINE
                memcpy(&value, sample.p, 8)
                sample.p += 8
            elif key == (2 << 3 | 0):
                ts = <int64_t>varint(&sample)
            else:
                skip(&sample, key & 7)
        if ts < lo_ms or ts > hi_ms:
            raise _DECLINE
        if not isfinite(value):
            skipped[0] += 1
            continue
        str_put(&rows.name, labels[name_at].value, labels[name_at].value_n)
        for i in range(count):
            if i != name_at and labels[i].value_n:
                str_put(&rows.keys, labels[i].name, labels[i].name_n)
                str_put(&rows.values, labels[i].value, labels[i].value_n)
        end = <int32_t>(rows.keys.offsets.len // 4 - 1)
        buf_put(&rows.dim_offsets, &end, 4)
        ts_ns = ts * MS
        buf_put(&rows.ts, &ts_ns, 8)
        buf_put(&rows.value, &value, 8)
        rows.n += 1
    return 0


def decode(bytes body, str tenant, int64_t now_ns):
    cdef Cursor c, field
    cdef uint64_t key
    cdef Py_ssize_t skipped = 0
    cdef _Rows rows = _Rows()
    cdef int64_t lo_ms = (now_ns - MAX_PAST_NS) // MS
    cdef int64_t hi_ms = (now_ns + MAX_FUTURE_NS) // MS
    c.p = <cptr>PyBytes_AS_STRING(body)
    c.end = c.p + PyBytes_GET_SIZE(body)
    try:
        while c.p < c.end:
            key = tag(&c)
            if key == (1 << 3 | 2):
                sub(&c, &field)
                series(&field, rows, lo_ms, hi_ms, &skipped)
            elif (key >> 3) == 3:
                return None  # metadata: the reference decoder
            else:
                skip(&c, key & 7)
    except Decline:
        return None
    return rows.table(tenant) if rows.n else None, rows.n, skipped


include "_remotewrite_v2.pxi"
