# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Native PutMetricData decoder: the JSON 1.0 request body as sent -> Arrow rows.

Contract (checked by tests/test_putmetricdata_native.py on generated requests): for a body
it accepts, ``decode(body, tenant, now_ns)`` returns ``MetricColumns`` whose ``to_arrow()``
equals what ``vigil.ingest.cloudwatch_metrics.decode_put_metric_data(orjson.loads(body),
tenant, now_ns)`` gives; otherwise it returns None and the caller runs that reference path,
which also words every error. It accepts a subset of JSON: strings of printable ASCII
without escapes, numbers in JSON's grammar (integers of at most 18 digits), the members
boto3 sends and nothing twice; anything else (escapes, UTF-8, ISO timestamps, unknown
members, EntityMetricData, invalid data of any kind) is declined. CloudWatch's rules are
checked here for the data it accepts, so that it never accepts what the reference refuses.

Per datum it reads names, numbers and units in place and fills column buffers; metric
names and dimension sets are looked up by their raw bytes (a fleet sends the same ones
every minute) and checked by the reference code the first time they are seen.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.string cimport memcpy, memcmp, memset
from libc.math cimport fabs, isfinite, nearbyint
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.object cimport PyObject

import numpy as np
import orjson
import pyarrow as pa

from vigil.ingest.cloudwatch_metrics import (
    MAX_DATA, MAX_DIMENSIONS, MAX_MAGNITUDE, MAX_VALUES, UNITS, InvalidMetricData,
    _dimensions,
)
from vigil.model.common import ATTR_MAP
from vigil.model.metrics import METRIC_SCHEMA, MetricColumns

cdef extern from "Python.h":
    double PyOS_string_to_double(const char* s, char** endptr, PyObject* overflow) except? -1.0

ctypedef const unsigned char* cptr


class Decline(Exception):
    """This body is not for the native path: the reference decoder must run."""


cdef object _DECLINE = Decline()

cdef int64_t MAX_PAST_NS = 14 * 86400 * 1000000000
cdef int64_t MAX_FUTURE_NS = 2 * 3600 * 1000000000
cdef double MAX_VALUE = MAX_MAGNITUDE
# As C integers: compared with the Python constants, every count was boxed first.
cdef int64_t C_MAX_DIMENSIONS = MAX_DIMENSIONS
cdef int64_t C_MAX_VALUES = MAX_VALUES
cdef int64_t C_MAX_DATA = MAX_DATA

cdef frozenset UNIT_BYTES = frozenset(u.encode() for u in UNITS)

# Memo of dimension arrays (raw JSON bytes -> sorted pairs, packed) that passed the
# reference checks. Bounded: cleared when full. The checks are pure, so this is a memo.
cdef dict CHECKED_DIMENSIONS = {}
cdef Py_ssize_t CACHE_LIMIT = 100000

# Members of a datum, as bits of ``seen``.
cdef enum:
    M_NAME = 1
    M_DIMS = 2
    M_TIME = 4
    M_VALUE = 8
    M_STATS = 16
    M_VALUES = 32
    M_COUNTS = 64
    M_UNIT = 128
    M_RES = 256


# ---------------------------------------------------------------- buffers

include "_columns.pxi"


# ---------------------------------------------------------------- JSON reading

include "_json_core.pxi"


cdef inline int string(Reader* r, cptr* start, Py_ssize_t* n) except -1:
    """A string of printable ASCII without escapes (anything else declines)."""
    cdef cptr p
    cdef unsigned char c
    expect(r, 34)
    p = r.p
    while True:
        if p >= r.end:
            raise _DECLINE
        c = p[0]
        if c == 34:
            break
        if c < 32 or c > 126 or c == 92:
            raise _DECLINE
        p += 1
    start[0] = r.p
    n[0] = p - r.p
    r.p = p + 1
    return 0



cdef double number(Reader* r, bint* integer) except? -1.0:
    """A JSON number (strict grammar) as the double Python's float() gives for it."""
    cdef cptr start
    cdef cptr p
    cdef Py_ssize_t n, digits = 0, int_digits = 0, frac_digits = 0
    cdef uint64_t mantissa = 0
    cdef int64_t exponent = 0
    cdef bint negative = False, exp_negative = False
    cdef double v
    cdef char text[64]
    ws(r)
    start = p = r.p
    integer[0] = True
    if p < r.end and p[0] == 45:  # -
        negative = True
        p += 1
    if p >= r.end:
        raise _DECLINE
    if p[0] == 48:  # a leading 0 stands alone
        p += 1
        digits = int_digits = 1
    elif 49 <= p[0] <= 57:
        while p < r.end and 48 <= p[0] <= 57:
            if digits < 19:
                mantissa = mantissa * 10 + (p[0] - 48)
            p += 1
            digits += 1
        int_digits = digits
    else:
        raise _DECLINE
    if p < r.end and p[0] == 46:  # .
        integer[0] = False
        p += 1
        if p >= r.end or not (48 <= p[0] <= 57):
            raise _DECLINE
        while p < r.end and 48 <= p[0] <= 57:
            if digits < 19:
                mantissa = mantissa * 10 + (p[0] - 48)
            p += 1
            digits += 1
            frac_digits += 1
    if p < r.end and (p[0] == 101 or p[0] == 69):  # e E
        integer[0] = False
        p += 1
        if p < r.end and (p[0] == 43 or p[0] == 45):
            exp_negative = p[0] == 45
            p += 1
        if p >= r.end or not (48 <= p[0] <= 57):
            raise _DECLINE
        while p < r.end and 48 <= p[0] <= 57:
            if exponent < 100000:
                exponent = exponent * 10 + (p[0] - 48)
            p += 1
    n = p - start
    # Long integers: orjson's range and Python's exact int arithmetic are the reference's.
    if n >= 63 or (integer[0] and int_digits > 18):
        raise _DECLINE
    r.p = p
    if exp_negative:
        exponent = -exponent
    exponent -= frac_digits
    # Exact mantissa and power of ten: one correctly rounded operation (Clinger's fast
    # path), the same double as a full conversion.
    if digits <= 19 and mantissa <= 9007199254740992ULL and -22 <= exponent <= 22:
        v = <double>mantissa
        if exponent >= 0:
            v = v * POW10[exponent]
        else:
            v = v / POW10[-exponent]
        return -v if negative else v
    memcpy(text, start, n)
    text[n] = 0
    return PyOS_string_to_double(text, NULL, NULL)


cdef inline double finite_value(Reader* r) except? -1.0:
    """A data value as CloudWatch accepts it (finite, within ±2^360)."""
    cdef bint integer
    cdef double v = number(r, &integer)
    if not isfinite(v) or fabs(v) > MAX_VALUE:
        raise _DECLINE
    return v


cdef int skip_bool(Reader* r) except -1:
    ws(r)
    if r.end - r.p >= 4 and memcmp(r.p, b"true", 4) == 0:
        r.p += 4
    elif r.end - r.p >= 5 and memcmp(r.p, b"false", 5) == 0:
        r.p += 5
    else:
        raise _DECLINE
    return 0


cdef int skip_dimensions(Reader* r) except -1:
    """An array of {"Name": string, "Value": string} objects (checked later, by the
    reference code, from its raw bytes)."""
    cdef cptr k
    cdef Py_ssize_t kn
    cdef int count = 0, members
    cdef cptr s
    cdef Py_ssize_t sn
    expect(r, 91)  # [
    if peek(r, 93):
        r.p += 1
        return 0
    while True:
        expect(r, 123)  # {
        members = 0
        while True:
            string(r, &k, &kn)
            expect(r, 58)
            if key_is(k, kn, "Name", 4):
                if members & 1:
                    raise _DECLINE
                members |= 1
            elif key_is(k, kn, "Value", 5):
                if members & 2:
                    raise _DECLINE
                members |= 2
            else:
                raise _DECLINE
            string(r, &s, &sn)
            if peek(r, 44):
                r.p += 1
                continue
            expect(r, 125)
            break
        if members != 3:
            raise _DECLINE
        count += 1
        if count > C_MAX_DIMENSIONS:
            raise _DECLINE
        if peek(r, 44):
            r.p += 1
            continue
        expect(r, 93)
        return 0


cdef int numbers(Reader* r, Buf* out, Py_ssize_t* count) except -1:
    """An array of at most MAX_VALUES finite values."""
    cdef double v
    count[0] = 0
    expect(r, 91)
    if peek(r, 93):
        r.p += 1
        return 0
    while True:
        v = finite_value(r)
        buf_put(out, &v, 8)
        count[0] += 1
        if count[0] > C_MAX_VALUES:
            raise _DECLINE
        if peek(r, 44):
            r.p += 1
            continue
        expect(r, 93)
        return 0


cdef bint blank(cptr s, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i
    for i in range(n):
        if s[i] != 32:
            return False
    return True


# ---------------------------------------------------------------- the decoder

cdef bytes pack_dimensions(list pairs):
    """Sorted (name, value) pairs as ``count, (len, name, len, value)*`` (host order)."""
    cdef Buf b
    cdef int32_t count = len(pairs)
    cdef int32_t size
    b.data = NULL
    b.len = b.cap = 0
    try:
        buf_put(&b, &count, 4)
        for key, value in pairs:
            for text in (key.encode("ascii"), value.encode("ascii")):
                size = len(text)
                buf_put(&b, &size, 4)
                buf_put(&b, PyBytes_AS_STRING(text), size)
        return PyBytes_FromStringAndSize(<char*>b.data, b.len)
    finally:
        PyMem_Free(b.data)


cdef class _Rows:
    """The columns being filled, one row per stored point."""

    cdef StrCol name, unit, keys, values
    cdef Buf dim_offsets, ts, res, kind, value, count, low, high
    cdef Py_ssize_t n

    def __cinit__(self):
        cdef int32_t zero = 0
        # Every offsets buffer starts with 0; rows follow.
        buf_put(&self.name.offsets, &zero, 4)
        buf_put(&self.unit.offsets, &zero, 4)
        buf_put(&self.keys.offsets, &zero, 4)
        buf_put(&self.values.offsets, &zero, 4)
        buf_put(&self.dim_offsets, &zero, 4)

    def __dealloc__(self):
        str_free(&self.name)
        str_free(&self.unit)
        str_free(&self.keys)
        str_free(&self.values)
        PyMem_Free(self.dim_offsets.data)
        PyMem_Free(self.ts.data)
        PyMem_Free(self.res.data)
        PyMem_Free(self.kind.data)
        PyMem_Free(self.value.data)
        PyMem_Free(self.count.data)
        PyMem_Free(self.low.data)
        PyMem_Free(self.high.data)

    cdef int row(self, cptr name, Py_ssize_t name_n, cptr dims, cptr unit, Py_ssize_t unit_n,
                 int64_t ts, uint8_t res, uint8_t kind, double value, double count, double low,
                 double high) except -1:
        cdef int32_t entries, size, end, i
        cdef cptr p
        str_put(&self.name, name, name_n)
        str_put(&self.unit, unit, unit_n)
        if dims != NULL:
            memcpy(&entries, dims, 4)
            p = dims + 4
            for i in range(entries):
                memcpy(&size, p, 4)
                str_put(&self.keys, p + 4, size)
                p += 4 + size
                memcpy(&size, p, 4)
                str_put(&self.values, p + 4, size)
                p += 4 + size
        end = <int32_t>(self.keys.offsets.len // 4 - 1)
        buf_put(&self.dim_offsets, &end, 4)
        buf_put(&self.ts, &ts, 8)
        buf_put(&self.res, &res, 1)
        buf_put(&self.kind, &kind, 1)
        buf_put(&self.value, &value, 8)
        buf_put(&self.count, &count, 8)
        buf_put(&self.low, &low, 8)
        buf_put(&self.high, &high, 8)
        self.n += 1
        return 0

    cdef object table(self, str tenant, str namespace):
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
            "namespace": constant(namespace, n),
            "name": str_arrow(&self.name, n),
            "dimensions": pa.Array.from_buffers(
                ATTR_MAP, n, [None, buf_arrow(&self.dim_offsets)], children=[pairs]),
            "unit": str_arrow(&self.unit, n),
            "timestamp": self.fixed(pa.timestamp("ns"), &self.ts),
            "start_time": pa.Array.from_buffers(pa.timestamp("ns"), n, [None, zeros8]),
            "resolution": self.fixed(pa.uint8(), &self.res),
            "kind": self.fixed(pa.uint8(), &self.kind),
            "value": self.fixed(pa.float64(), &self.value),
            "count": self.fixed(pa.float64(), &self.count),
            "min": self.fixed(pa.float64(), &self.low),
            "max": self.fixed(pa.float64(), &self.high),
            "bounds": pa.Array.from_buffers(
                pa.list_(pa.float64()), n, [None, empty_lists],
                children=[pa.array([], pa.float64())]),
            "buckets": pa.Array.from_buffers(
                pa.list_(pa.uint64()), n, [None, empty_lists],
                children=[pa.array([], pa.uint64())]),
            "metric_type": constant("cloudwatch", n),
            "stream_id": pa.Array.from_buffers(pa.uint64(), n, [None, zeros8]),
            "cumulative": pa.Array.from_buffers(pa.float64(), n, [None, zeros8]),
        }
        return pa.Table.from_arrays(
            [columns[f] for f in METRIC_SCHEMA.names], schema=METRIC_SCHEMA)

    cdef object fixed(self, object arrow_type, Buf* b):
        return pa.Array.from_buffers(arrow_type, self.n, [None, buf_arrow(b)])


cdef class _Decoder:
    cdef _Rows rows
    cdef int64_t now_ns
    cdef Buf scratch         # Values and Counts of the datum being read
    # The previous datum's dimensions and unit: a fleet's requests repeat them.
    cdef bytes last_dims_raw
    cdef bytes last_dims
    cdef bytes last_unit

    def __cinit__(self, int64_t now_ns):
        self.rows = _Rows()
        self.now_ns = now_ns
        self.last_dims_raw = b""
        self.last_dims = None
        self.last_unit = b"None"

    def __dealloc__(self):
        PyMem_Free(self.scratch.data)

    cdef bytes dimensions(self, cptr s, Py_ssize_t n):
        """The packed, checked dimensions of a raw JSON array (declines a bad one)."""
        cdef bytes raw
        if n == PyBytes_GET_SIZE(self.last_dims_raw) and memcmp(
            s, PyBytes_AS_STRING(self.last_dims_raw), n
        ) == 0:
            return self.last_dims
        raw = PyBytes_FromStringAndSize(<const char*>s, n)
        packed = CHECKED_DIMENSIONS.get(raw)
        if packed is None:
            try:
                pairs = _dimensions("MetricData", orjson.loads(raw))
            except InvalidMetricData:
                raise _DECLINE
            packed = pack_dimensions(pairs) if pairs else None
            if len(CHECKED_DIMENSIONS) >= CACHE_LIMIT:
                CHECKED_DIMENSIONS.clear()
            CHECKED_DIMENSIONS[raw] = packed
        self.last_dims_raw = raw
        self.last_dims = packed
        return packed

    cdef int check_unit(self, cptr s, Py_ssize_t n) except -1:
        if n == PyBytes_GET_SIZE(self.last_unit) and memcmp(
            s, PyBytes_AS_STRING(self.last_unit), n
        ) == 0:
            return 0
        unit = PyBytes_FromStringAndSize(<const char*>s, n)
        if unit not in UNIT_BYTES:
            raise _DECLINE
        self.last_unit = unit
        return 0

    cdef int datum(self, Reader* r) except -1:
        cdef cptr k
        cdef Py_ssize_t kn
        cdef cptr name = NULL
        cdef Py_ssize_t name_n = 0
        cdef cptr unit = <cptr>b"None"
        cdef Py_ssize_t unit_n = 4
        cdef cptr d0
        cdef bytes dims = None
        cdef cptr dims_p = NULL
        cdef int seen = 0, bit, given
        cdef bint integer
        cdef uint8_t res = 60
        cdef double seconds = 0, value = 0, v
        cdef double stats[4]
        cdef Py_ssize_t nvalues = 0, ncounts = 0, i
        cdef double* vals
        cdef double* cnts
        cdef int64_t ts
        self.scratch.len = 0
        expect(r, 123)  # {
        if peek(r, 125):
            raise _DECLINE
        while True:
            string(r, &k, &kn)
            expect(r, 58)
            if key_is(k, kn, "MetricName", 10):
                bit = M_NAME
                string(r, &name, &name_n)
                if name_n < 1 or name_n > 255 or blank(name, name_n):
                    raise _DECLINE
            elif key_is(k, kn, "Dimensions", 10):
                bit = M_DIMS
                ws(r)
                d0 = r.p
                skip_dimensions(r)
                dims = self.dimensions(d0, r.p - d0)
            elif key_is(k, kn, "Timestamp", 9):
                bit = M_TIME
                seconds = number(r, &integer)
            elif key_is(k, kn, "Value", 5):
                bit = M_VALUE
                value = finite_value(r)
            elif key_is(k, kn, "Unit", 4):
                bit = M_UNIT
                string(r, &unit, &unit_n)
                self.check_unit(unit, unit_n)
            elif key_is(k, kn, "StorageResolution", 17):
                bit = M_RES
                v = number(r, &integer)
                if not integer or (v != 60 and v != 1):
                    raise _DECLINE
                res = <uint8_t>v
            elif key_is(k, kn, "Values", 6):
                bit = M_VALUES
                if seen & M_COUNTS:
                    raise _DECLINE  # Counts must follow their Values
                numbers(r, &self.scratch, &nvalues)
            elif key_is(k, kn, "Counts", 6):
                bit = M_COUNTS
                if not (seen & M_VALUES):
                    raise _DECLINE
                numbers(r, &self.scratch, &ncounts)
            elif key_is(k, kn, "StatisticValues", 15):
                bit = M_STATS
                statistics(r, stats)
            else:
                raise _DECLINE
            if seen & bit:
                raise _DECLINE
            seen |= bit
            if peek(r, 44):
                r.p += 1
                continue
            expect(r, 125)
            break
        if not (seen & M_NAME):
            raise _DECLINE
        ts = self.timestamp(seconds) if seen & M_TIME else self.now_ns
        given = ((seen & M_VALUE) != 0) + ((seen & M_VALUES) != 0) + ((seen & M_STATS) != 0)
        if given != 1:
            raise _DECLINE
        if dims is not None:
            dims_p = <cptr>PyBytes_AS_STRING(dims)
        if seen & M_VALUE:
            self.rows.row(name, name_n, dims_p, unit, unit_n, ts, res, 0, value, 1.0, 0.0, 0.0)
        elif seen & M_VALUES:
            vals = <double*>self.scratch.data
            if seen & M_COUNTS:
                if ncounts != nvalues:
                    raise _DECLINE
                cnts = vals + nvalues
                for i in range(nvalues):
                    if cnts[i] < 0:
                        raise _DECLINE
                for i in range(nvalues):
                    if cnts[i] > 0:
                        self.rows.row(name, name_n, dims_p, unit, unit_n, ts, res, 0, vals[i],
                                      cnts[i], 0.0, 0.0)
            else:
                for i in range(nvalues):
                    self.rows.row(name, name_n, dims_p, unit, unit_n, ts, res, 0, vals[i], 1.0,
                                  0.0, 0.0)
        else:
            # SampleCount, Sum, Minimum, Maximum
            if stats[0] <= 0 or stats[2] > stats[3]:
                raise _DECLINE
            self.rows.row(name, name_n, dims_p, unit, unit_n, ts, res, 1, stats[1], stats[0],
                          stats[2], stats[3])
        return 0

    cdef int64_t timestamp(self, double seconds) except? -1:
        cdef double micros
        cdef int64_t ts
        if not isfinite(seconds) or fabs(seconds) > 1e12:
            raise _DECLINE
        micros = nearbyint(seconds * 1e6)  # round half to even, as Python's round()
        ts = <int64_t>micros * 1000
        if ts > self.now_ns + MAX_FUTURE_NS or ts < self.now_ns - MAX_PAST_NS:
            raise _DECLINE
        return ts


cdef int statistics(Reader* r, double* stats) except -1:
    cdef cptr k
    cdef Py_ssize_t kn
    cdef int seen = 0, j
    expect(r, 123)
    if peek(r, 125):
        raise _DECLINE
    while True:
        string(r, &k, &kn)
        expect(r, 58)
        if key_is(k, kn, "SampleCount", 11):
            j = 0
        elif key_is(k, kn, "Sum", 3):
            j = 1
        elif key_is(k, kn, "Minimum", 7):
            j = 2
        elif key_is(k, kn, "Maximum", 7):
            j = 3
        else:
            raise _DECLINE
        if seen & (1 << j):
            raise _DECLINE
        seen |= 1 << j
        stats[j] = finite_value(r)
        if peek(r, 44):
            r.p += 1
            continue
        expect(r, 125)
        break
    if seen != 15:
        raise _DECLINE
    return 0


def decode(bytes body, str tenant, int64_t now_ns):
    """``MetricColumns`` for the body, or None to have the reference decoder run."""
    cdef Reader r
    cdef _Decoder dec = _Decoder(now_ns)
    cdef cptr k
    cdef Py_ssize_t kn
    cdef cptr s
    cdef Py_ssize_t sn
    cdef int seen = 0
    cdef Py_ssize_t data = 0
    namespace = None
    r.p = <cptr>PyBytes_AS_STRING(body)
    r.end = r.p + PyBytes_GET_SIZE(body)
    try:
        expect(&r, 123)
        if peek(&r, 125):
            raise _DECLINE
        while True:
            string(&r, &k, &kn)
            expect(&r, 58)
            if key_is(k, kn, "Namespace", 9):
                if seen & 1:
                    raise _DECLINE
                seen |= 1
                string(&r, &s, &sn)
                if sn < 1 or sn > 255 or blank(s, sn) or s[0] == 58 or (
                    sn >= 4 and memcmp(s, b"AWS/", 4) == 0
                ):
                    raise _DECLINE
                namespace = PyBytes_FromStringAndSize(<const char*>s, sn).decode("ascii")
            elif key_is(k, kn, "MetricData", 10):
                if seen & 2:
                    raise _DECLINE
                seen |= 2
                expect(&r, 91)
                while True:
                    dec.datum(&r)
                    data += 1
                    if data > C_MAX_DATA:
                        raise _DECLINE
                    if peek(&r, 44):
                        r.p += 1
                        continue
                    expect(&r, 93)
                    break
            elif key_is(k, kn, "StrictEntityValidation", 22):
                if seen & 4:
                    raise _DECLINE
                seen |= 4
                skip_bool(&r)
            else:
                raise _DECLINE
            if peek(&r, 44):
                r.p += 1
                continue
            expect(&r, 125)
            break
        ws(&r)
        if r.p != r.end or namespace is None or data == 0:
            raise _DECLINE
    except Decline:
        return None
    return MetricColumns(arrow=dec.rows.table(tenant, namespace))
