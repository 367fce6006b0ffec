# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Native X-Ray segment decoder: segment documents (JSON bytes) -> Arrow span rows.

Contract (checked by tests/test_xray_native.py on generated documents): ``decode(docs,
tenant, now_ns, known, limit, fallback)`` reads each document in place and, for a document
it accepts, appends exactly the rows ``vigil.ingest.xray`` gives for it (and remembers its
nodes' services in ``known`` as ``ServiceNames.remember`` does). A document it does not
accept is *declined*: it calls ``fallback(index)`` at once, in order, so that the reference
decoder takes it (and words the refusal when it is invalid) with the service names of
every earlier document known. It returns the accepted rows as a table of
``XRAY_SPAN_SCHEMA`` (None when there are none).

Accepted: JSON as orjson reads it (strict UTF-8, strict number grammar, escapes) minus
what would need care to be exact: repeated object keys, more than 64 members in an object,
integers of more than 18 digits, nesting deeper than 64 inside a value, ``in_progress``
nodes, and every value that is not of the usual type for its member (the reference's
rules for odd types are kept there). Documents with nested subsegments keep each node's document without them, as
orjson would write it (compact; floats as orjson renders them; strings re-escaped as
orjson escapes them); others keep their bytes as sent.
"""

import numpy as np
import pyarrow as pa

from vigil.ingest.interface import RequestError
from vigil.model.common import ATTR_MAP, TYPED_KEYS
from vigil.model.spans import EVENT, LINK
from vigil.model.xray import XRAY_SPAN_SCHEMA

include "otlp/_wire_core.pxi"

from libc.math cimport nearbyint
from libc.string cimport memchr
from cpython.mem cimport PyMem_Malloc
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_AsUTF8AndSize

cdef extern from "Python.h":
    double PyOS_string_to_double(const char* s, char** endptr, PyObject* overflow) except? -1.0


class Declined(Exception):
    """This document is not for the native path: the reference decoder must take it."""


cdef object _DECLINE = Declined()

cdef enum:
    MAX_DOCUMENT = 64 * 1024
    MAX_NODE_DEPTH = 64
    MAX_VALUE_DEPTH = 64
    MAX_KEYS = 64              # members of one object (more: declined)
    MAX_NAME_CHARS = 200
    MAX_ANNOTATION_CHARS = 1000
    MAX_ANNOTATION_KEY = 500

cdef int64_t FUTURE_NS = 2 * 3600 * 1000000000
cdef double NS_LIMIT = 9.0e18


# ---------------------------------------------------------------- JSON reading

include "_json_core.pxi"


cdef inline bint more(Reader* r, unsigned char close) except -1:
    """After a member or element: True on ',', False on the closing bracket."""
    ws(r)
    if r.p < r.end:
        if r.p[0] == 44:
            r.p += 1
            return True
        if r.p[0] == close:
            r.p += 1
            return False
    raise _DECLINE


cdef struct Text:
    # Bytes in the document (no escapes) or, when ``p`` is NULL, at ``off`` in the scratch
    # buffer (the decoded text of a string with escapes).
    cptr p
    Py_ssize_t off
    Py_ssize_t n
    bint raw   # the string was read without escapes: its bytes need none in JSON either


cdef inline int hex4(cptr p, uint32_t* out) except -1:
    cdef uint32_t v = 0
    cdef int i
    cdef unsigned char c
    for i in range(4):
        c = p[i]
        if 48 <= c <= 57:
            v = v * 16 + (c - 48)
        elif 97 <= c <= 102:
            v = v * 16 + (c - 87)
        elif 65 <= c <= 70:
            v = v * 16 + (c - 55)
        else:
            raise _DECLINE
    out[0] = v
    return 0


cdef int put_code_point(Buf* b, uint32_t cp) except -1:
    cdef unsigned char u[4]
    if cp < 0x80:
        return buf_u8(b, <uint8_t>cp)
    if cp < 0x800:
        u[0] = <unsigned char>(0xC0 | (cp >> 6))
        u[1] = <unsigned char>(0x80 | (cp & 0x3F))
        return buf_put(b, u, 2)
    if cp < 0x10000:
        u[0] = <unsigned char>(0xE0 | (cp >> 12))
        u[1] = <unsigned char>(0x80 | ((cp >> 6) & 0x3F))
        u[2] = <unsigned char>(0x80 | (cp & 0x3F))
        return buf_put(b, u, 3)
    u[0] = <unsigned char>(0xF0 | (cp >> 18))
    u[1] = <unsigned char>(0x80 | ((cp >> 12) & 0x3F))
    u[2] = <unsigned char>(0x80 | ((cp >> 6) & 0x3F))
    u[3] = <unsigned char>(0x80 | (cp & 0x3F))
    return buf_put(b, u, 4)


cdef int unescape(cptr p, cptr end, Buf* out) except -1:
    """The decoded bytes of a string's inside (escapes as orjson reads them)."""
    cdef unsigned char c
    cdef uint32_t cp, low
    while p < end:
        c = p[0]
        if c != 92:
            buf_u8(out, c)
            p += 1
            continue
        c = p[1]  # the scan guarantees a character after each backslash
        p += 2
        if c == 34 or c == 92 or c == 47:
            buf_u8(out, c)
        elif c == 98:
            buf_u8(out, 8)
        elif c == 102:
            buf_u8(out, 12)
        elif c == 110:
            buf_u8(out, 10)
        elif c == 114:
            buf_u8(out, 13)
        elif c == 116:
            buf_u8(out, 9)
        elif c == 117:
            if end - p < 4:
                raise _DECLINE
            hex4(p, &cp)
            p += 4
            if 0xDC00 <= cp <= 0xDFFF:
                raise _DECLINE
            if 0xD800 <= cp <= 0xDBFF:
                if end - p < 6 or p[0] != 92 or p[1] != 117:
                    raise _DECLINE
                hex4(p + 2, &low)
                if not (0xDC00 <= low <= 0xDFFF):
                    raise _DECLINE
                p += 6
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)
            put_code_point(out, cp)
        else:
            raise _DECLINE
    return 0


cdef int read_string(Reader* r, Text* t, Buf* scratch) except -1:
    """A JSON string: strict UTF-8, no raw control characters, valid escapes."""
    cdef cptr start
    cdef cptr p
    cdef unsigned char c
    cdef bint escaped = False
    ws(r)
    if r.p >= r.end or r.p[0] != 34:
        raise _DECLINE
    start = p = r.p + 1
    while True:
        if p >= r.end:
            raise _DECLINE
        c = p[0]
        if c == 34:
            break
        if c == 92:
            escaped = True
            p += 2
            continue
        if c < 32:
            raise _DECLINE
        p += 1
    if not utf8_valid(start, p - start):
        raise _DECLINE
    r.p = p + 1
    if not escaped:
        t.p = start
        t.n = p - start
        t.raw = True
        return 0
    t.p = NULL
    t.off = scratch.len
    unescape(start, p, scratch)
    t.n = scratch.len - t.off
    t.raw = False
    return 0


cdef inline cptr text_at(Text* t, Buf* scratch) noexcept:
    return t.p if t.p != NULL else <cptr>scratch.data + t.off


cdef const char* HEXDIGITS = b"0123456789abcdef"


cdef int put_json_text(Buf* out, cptr s, Py_ssize_t n) except -1:
    """A string as orjson writes it: '"', '\\' and control characters escaped."""
    cdef Py_ssize_t i, run = 0
    cdef unsigned char c
    cdef unsigned char esc[6]
    buf_u8(out, 34)
    for i in range(n):
        c = s[i]
        if c >= 32 and c != 34 and c != 92:
            continue
        buf_put(out, s + run, i - run)
        run = i + 1
        if c == 34 or c == 92:
            esc[0] = 92
            esc[1] = c
            buf_put(out, esc, 2)
        elif c == 8 or c == 9 or c == 10 or c == 12 or c == 13:
            esc[0] = 92
            esc[1] = b"btn?fr"[c - 8]
            buf_put(out, esc, 2)
        else:
            esc[0] = 92
            esc[1] = 117
            esc[2] = 48
            esc[3] = 48
            esc[4] = HEXDIGITS[c >> 4]
            esc[5] = HEXDIGITS[c & 15]
            buf_put(out, esc, 6)
    buf_put(out, s + run, n - run)
    buf_u8(out, 34)
    return 0


cdef inline int put_text(Buf* out, Text* t, Buf* scratch) except -1:
    if t.raw:
        buf_u8(out, 34)
        buf_put(out, t.p, t.n)
        return buf_u8(out, 34)
    return put_json_text(out, <cptr>scratch.data + t.off, t.n)


# Decimal -> double in one long double (x87, 64-bit mantissa) operation, when that cannot
# round differently from a correctly rounded conversion; CPython's (exact, bignum) one
# otherwise. Epoch seconds with microseconds have 16-17 digits: past Clinger's exact path.
cdef extern from "float.h":
    int LDBL_MANT_DIG

cdef bint LONG_DOUBLE_OK = LDBL_MANT_DIG == 64 and sizeof(long double) >= 10
cdef long double[28] LPOW10
cdef int _k
LPOW10[0] = 1
for _k in range(1, 28):
    LPOW10[_k] = LPOW10[_k - 1] * 10  # exact: 10^27 needs 63 bits of mantissa


cdef inline bint decimal_double(uint64_t m, int e, double* out) noexcept:
    """``m`` x 10^``e`` correctly rounded, when it can be computed fast; else False."""
    cdef long double q
    cdef uint64_t bits
    if m <= 9007199254740992ULL and -22 <= e <= 22:
        # Exact mantissa and power of ten: one correctly rounded operation (Clinger).
        out[0] = <double>m * POW10[e] if e >= 0 else <double>m / POW10[-e]
        return True
    if not LONG_DOUBLE_OK or e < -27 or e > 27:
        return False
    q = <long double>m * LPOW10[e] if e >= 0 else <long double>m / LPOW10[-e]
    # Rounding the 64-bit result to 53 bits is the correct rounding unless the result
    # lies within one unit of a 53-bit halfway point (low 11 bits 0x3FF..0x401).
    memcpy(&bits, &q, 8)
    bits &= 0x7FF
    if 0x3FF <= bits <= 0x401:
        return False
    out[0] = <double>q
    return True


cdef struct Num:
    bint integer
    int64_t i
    double d
    # The decimal as read (floats): m x 10^e, m without trailing zeros (0 if unknown)
    uint64_t m
    int e
    bint negative


cdef int read_number(Reader* r, Num* out) except -1:
    """A JSON number (strict grammar). Integers of at most 18 digits (longer ones are
    declined: orjson turns those past 64 bits into floats); other numbers as the correctly
    rounded double, which must be finite (orjson refuses the others)."""
    cdef cptr start
    cdef cptr p
    cdef Py_ssize_t n, digits = 0, frac_digits = 0
    cdef uint64_t mantissa = 0
    cdef int64_t exponent = 0
    cdef bint negative = False, exp_negative = False
    cdef double v
    cdef char text[64]
    ws(r)
    start = p = r.p
    out.integer = True
    if p < r.end and p[0] == 45:
        negative = True
        p += 1
    if p >= r.end:
        raise _DECLINE
    if p[0] == 48:
        p += 1
        digits = 1
    elif 49 <= p[0] <= 57:
        while p < r.end and 48 <= p[0] <= 57:
            if digits < 19:
                mantissa = mantissa * 10 + (p[0] - 48)
            p += 1
            digits += 1
    else:
        raise _DECLINE
    if p < r.end and p[0] == 46:
        out.integer = False
        p += 1
        if p >= r.end or not (48 <= p[0] <= 57):
            raise _DECLINE
        while p < r.end and 48 <= p[0] <= 57:
            if digits < 19:
                mantissa = mantissa * 10 + (p[0] - 48)
            p += 1
            digits += 1
            frac_digits += 1
    if p < r.end and (p[0] == 101 or p[0] == 69):
        out.integer = False
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
    r.p = p
    out.negative = negative
    if out.integer:
        if digits > 18:
            raise _DECLINE
        out.i = -<int64_t>mantissa if negative else <int64_t>mantissa
        out.d = <double>out.i
        return 0
    if exp_negative:
        exponent = -exponent
    exponent -= frac_digits
    out.m = 0
    if digits <= 19 and -400 < exponent < 400:
        out.e = <int>exponent
        while mantissa and mantissa % 10 == 0:
            mantissa //= 10
            out.e += 1
        out.m = mantissa
        if decimal_double(mantissa, out.e, &v):
            out.d = -v if negative else v
            return 0
    if n >= 63:
        raise _DECLINE
    memcpy(text, start, n)
    text[n] = 0
    v = PyOS_string_to_double(text, NULL, NULL)
    if not isfinite(v):
        raise _DECLINE
    out.d = v
    return 0


cdef inline int ndigits(uint64_t m) noexcept:
    cdef int n = 1
    while m >= 10:
        m //= 10
        n += 1
    return n


cdef extern from *:
    ctypedef unsigned long long u128 "unsigned __int128"

# 5^k for k <= 22: with a 53-bit mantissa the product stays under 2^105.
cdef uint64_t[23] POW5
POW5[0] = 1
for _k in range(1, 23):
    POW5[_k] = POW5[_k - 1] * 5


cdef inline bint other_double(uint64_t m, int e, double d) noexcept:
    """Whether m x 10^e rounds to a double other than d (False when undecided)."""
    cdef double v
    return decimal_double(m, e, &v) and v != d


cdef bint nearest_on_grid(double d, int k, uint64_t m) noexcept:
    """Whether m is round(d x 10^k) (exactly, d > 0, 0 < k <= 22), with no tie."""
    cdef uint64_t bits, mant
    cdef int exp2, shift
    cdef u128 x, rem, half
    memcpy(&bits, &d, 8)
    exp2 = <int>((bits >> 52) & 0x7FF)
    if exp2 == 0 or exp2 == 0x7FF:
        return False
    mant = (bits & 0xFFFFFFFFFFFFFULL) | (<uint64_t>1 << 52)
    exp2 -= 1075  # d = mant x 2^exp2
    # d x 10^k = mant x 5^k x 2^(exp2 + k)
    x = <u128>mant * POW5[k]
    shift = -(exp2 + k)
    if shift <= 0:
        return shift > -64 and (x << (-shift)) == m
    if shift >= 127:
        return False
    rem = x & (((<u128>1) << shift) - 1)
    half = (<u128>1) << (shift - 1)
    if rem == half:
        return False
    return <uint64_t>((x >> shift) + (1 if rem > half else 0)) == m


cdef bint shortest(Num* v) noexcept:
    """Whether the decimal read is the one repr() gives for its double: no decimal of fewer
    digits rounds to it, and it is the nearest to the double of its own digits (repr gives
    the shortest decimal that rounds back, the nearest of those)."""
    cdef uint64_t m = v.m
    cdef int digits
    cdef double d = -v.d if v.negative else v.d
    if m == 0:
        return False
    digits = ndigits(m)
    if digits <= 15:
        return True  # decimals of up to 15 digits round to distinct doubles
    if digits > 17 or v.e >= 0 or v.e < -22:
        return False
    # One digit shorter: if neither neighbour on that grid rounds to d, nothing on it does
    # (d's rounding interval is an interval around the decimal read).
    if not other_double(m // 10, v.e + 1, d) or not other_double(m // 10 + 1, v.e + 1, d):
        return False
    return nearest_on_grid(d, -v.e, m)


cdef int put_float(Buf* out, Num* v) except -1:
    """orjson's text for the double read: the decimal as read, in repr's plain layout, when
    it is repr's (the usual case: SDKs write repr); else rendered from the double."""
    cdef double a = -v.d if v.negative else v.d
    cdef char digits[24]
    cdef int n, point, i
    cdef uint64_t m = v.m
    if not (1e-4 <= a < 1e16) or not shortest(v):
        return put_double_json(out, v.d)
    n = ndigits(m)
    for i in range(n - 1, -1, -1):
        digits[i] = <char>(48 + m % 10)
        m //= 10
    point = n + v.e  # digits before the decimal point
    if v.negative:
        buf_u8(out, 45)
    if point <= 0:
        buf_put(out, b"0.", 2)
        for i in range(-point):
            buf_u8(out, 48)
        return buf_put(out, digits, n)
    if point >= n:
        buf_put(out, digits, n)
        for i in range(point - n):
            buf_u8(out, 48)
        return buf_put(out, b".0", 2)
    buf_put(out, digits, point)
    buf_u8(out, 46)
    return buf_put(out, digits + point, n - point)


cdef inline int put_number(Buf* out, Num* v) except -1:
    if v.integer:
        return put_int(out, v.i)
    return put_float(out, v)


cdef int literal(Reader* r, Buf* out) except -1:
    """true, false or null (at r.p); returns 1, 0 or 2."""
    if r.end - r.p >= 4 and memcmp(r.p, b"true", 4) == 0:
        r.p += 4
        if out != NULL:
            buf_put(out, b"true", 4)
        return 1
    if r.end - r.p >= 5 and memcmp(r.p, b"false", 5) == 0:
        r.p += 5
        if out != NULL:
            buf_put(out, b"false", 5)
        return 0
    if r.end - r.p >= 4 and memcmp(r.p, b"null", 4) == 0:
        r.p += 4
        if out != NULL:
            buf_put(out, b"null", 4)
        return 2
    raise _DECLINE


cdef struct Keys:
    # The members of one object seen so far, to decline repeated keys (orjson would keep
    # the last value at the first place: not worth copying).
    Text key[MAX_KEYS]
    int count


cdef int read_key(Reader* r, Keys* keys, Buf* scratch, Text* key) except -1:
    """An object member's key (escapes decoded into ``scratch``) and its ':'."""
    cdef int i
    cdef cptr k
    read_string(r, key, scratch)
    expect(r, 58)
    if keys.count >= MAX_KEYS:
        raise _DECLINE
    k = text_at(key, scratch)
    for i in range(keys.count):
        if keys.key[i].n == key.n and memcmp(text_at(&keys.key[i], scratch), k, key.n) == 0:
            raise _DECLINE
    keys.key[keys.count] = key[0]
    keys.count += 1
    return 0


cdef inline int put_key(Buf* out, Text* key, Buf* scratch, bint* first) except -1:
    if not first[0]:
        buf_u8(out, 44)
    first[0] = False
    put_text(out, key, scratch)
    return buf_u8(out, 58)


cdef bint members_follow(Reader* r) except -1:
    """Past ``null`` or ``{}`` (False), or past the ``{`` of an object with members (True)."""
    ws(r)
    if r.p < r.end and r.p[0] == 110:
        literal(r, NULL)
        return False
    expect(r, 123)
    if peek(r, 125):
        r.p += 1
        return False
    return True


cdef int value(Reader* r, Buf* out, Buf* scratch, int depth) except -1:
    """Any JSON value: validated as orjson reads it and, when ``out`` is set, written there
    as orjson writes it back."""
    cdef unsigned char c
    cdef Keys keys
    cdef Text key
    cdef Py_ssize_t mark
    cdef bint first = True
    cdef Text t
    cdef Num num
    if depth > MAX_VALUE_DEPTH:
        raise _DECLINE
    ws(r)
    if r.p >= r.end:
        raise _DECLINE
    c = r.p[0]
    if c == 34:
        mark = scratch.len
        read_string(r, &t, scratch)
        if out != NULL:
            put_text(out, &t, scratch)
        scratch.len = mark
    elif c == 123:
        r.p += 1
        keys.count = 0
        if out != NULL:
            buf_u8(out, 123)
        if peek(r, 125):
            r.p += 1
        else:
            while True:
                read_key(r, &keys, scratch, &key)
                if out != NULL:
                    put_key(out, &key, scratch, &first)
                value(r, out, scratch, depth + 1)
                if not more(r, 125):
                    break
        if out != NULL:
            buf_u8(out, 125)
    elif c == 91:
        r.p += 1
        if out != NULL:
            buf_u8(out, 91)
        if peek(r, 93):
            r.p += 1
        else:
            while True:
                if out != NULL and not first:
                    buf_u8(out, 44)
                first = False
                value(r, out, scratch, depth + 1)
                if not more(r, 93):
                    break
        if out != NULL:
            buf_u8(out, 93)
    elif c == 45 or 48 <= c <= 57:
        read_number(r, &num)
        if out != NULL:
            put_number(out, &num)
    else:
        literal(r, out)
    return 0


cdef int skip(Reader* r) except -1:
    """Past one value without checking it (it is read for real later)."""
    cdef int depth = 0
    cdef unsigned char c
    ws(r)
    if r.p >= r.end:
        raise _DECLINE
    if r.p[0] != 91 and r.p[0] != 123:
        while r.p < r.end:
            c = r.p[0]
            if c == 44 or c == 125 or c == 93 or c == 32 or c == 10 or c == 13 or c == 9:
                return 0
            r.p += 1
        return 0
    while r.p < r.end:
        c = r.p[0]
        r.p += 1
        if c == 34:
            while True:
                if r.p >= r.end:
                    raise _DECLINE
                c = r.p[0]
                r.p += 1
                if c == 92:
                    r.p += 1
                elif c == 34:
                    break
        elif c == 91 or c == 123:
            depth += 1
        elif c == 93 or c == 125:
            depth -= 1
            if depth == 0:
                return 0
    raise _DECLINE


# ---------------------------------------------------------------- columns

cdef struct Col:
    Buf offsets   # int32 (strings, lists, maps)
    Buf data      # string bytes or fixed-width values
    Py_ssize_t n  # items


cdef struct ColMark:
    Py_ssize_t offsets
    Py_ssize_t data
    Py_ssize_t n


cdef enum:
    C_TRACE, C_SPAN, C_PARENT, C_NAME, C_KIND, C_SERVICE, C_START, C_END, C_STATUS,
    C_STATUS_MSG, C_ATTRS, C_ATTR_K, C_ATTR_V, C_TYPED, C_TYPED_V, C_RES, C_RES_K, C_RES_V,
    C_EVENTS, C_EV_TIME, C_EV_NAME, C_EV_ATTRS, C_EV_K, C_EV_V, C_SEGMENT, C_ORIGIN,
    C_NAMESPACE, C_USER, C_ANN, C_ANN_K, C_ANN_V, C_HTTP_METHOD, C_HTTP_URL, C_HTTP_STATUS,
    C_HTTP_UA, C_HTTP_IP, C_ERROR, C_FAULT, C_THROTTLE, C_REMOTE_SVC, C_REMOTE_TYPE, C_DOC,
    NCOLS


cdef inline int col_str(Col* c, const void* s, Py_ssize_t n) except -1:
    buf_put(&c.data, s, n)
    if c.data.len > INT32_LIMIT:
        raise _DECLINE
    buf_i32(&c.offsets, <int32_t>c.data.len)
    c.n += 1
    return 0


cdef inline int col_close(Col* c, Py_ssize_t items) except -1:
    """Ends a list or map row whose items were appended to its child columns."""
    buf_i32(&c.offsets, <int32_t>items)
    c.n += 1
    return 0


cdef inline int col_u8(Col* c, uint8_t v) except -1:
    c.n += 1
    return buf_u8(&c.data, v)


cdef inline int col_i64(Col* c, int64_t v) except -1:
    c.n += 1
    return buf_i64(&c.data, v)


cdef object col_string_array(Col* c):
    return pa.Array.from_buffers(
        pa.string(), c.n, [None, buf_arrow(&c.offsets), buf_arrow(&c.data)])


cdef object col_fixed_array(Col* c, object arrow_type):
    return pa.Array.from_buffers(arrow_type, c.n, [None, buf_arrow(&c.data)])


cdef object col_map_array(Col* c, Col* keys, Col* values):
    entries = pa.StructArray.from_arrays(
        [col_string_array(keys), col_string_array(values)],
        fields=[ATTR_MAP.key_field, ATTR_MAP.item_field])
    return pa.Array.from_buffers(ATTR_MAP, c.n, [None, buf_arrow(&c.offsets)], children=[entries])


cdef object empty_lists(object arrow_type, Py_ssize_t n, object child):
    return pa.Array.from_buffers(
        arrow_type, n, [None, pa.py_buffer(bytes(4 * (n + 1)))], children=[child])


cdef object constant(str text, Py_ssize_t n):
    raw = text.encode()
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(len(raw))
    return pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(raw * n)])


# ---------------------------------------------------------------- nodes

cdef struct Pair:
    Text key
    Text value
    bint typed    # a number or boolean, kept as its JSON text


cdef struct Exc:
    Text type
    Text message
    Py_ssize_t stack_off   # the stack trace text in scratch, or -1 when there is none
    Py_ssize_t stack_n


# What one node (segment or subsegment) sets while its members are read.
cdef enum:
    F_NAME = 1 << 0
    F_ID = 1 << 1
    F_START = 1 << 2
    F_END = 1 << 3
    F_TRACE = 1 << 4
    F_SUBSEGMENT = 1 << 6   # "type": "subsegment" on a document
    F_SQL = 1 << 7
    F_STATUS = 1 << 8       # http.response.status is an integer
    F_VERSION = 1 << 9
    F_SUBS = 1 << 10        # has a "subsegments" member


cdef struct Node:
    int flags
    Text name, user, namespace, origin, version, method, url, agent, client_ip
    unsigned char span_id[8]
    unsigned char trace_id[16]
    unsigned char parent[8]
    int64_t start, end
    uint8_t error, fault, throttle
    int status
    Py_ssize_t pairs_from, pairs_to       # annotations in the pair buffer
    Py_ssize_t excs_from, excs_to         # exceptions in the exception buffer
    cptr subs
    cptr subs_end


cdef inline int unhex(cptr s, Py_ssize_t n, unsigned char* out) except -1:
    cdef Py_ssize_t i
    cdef unsigned char c, v
    for i in range(n):
        c = s[i]
        if 48 <= c <= 57:
            v = c - 48
        elif 97 <= c <= 102:
            v = c - 87
        elif 65 <= c <= 70:
            v = c - 55
        else:
            raise _DECLINE
        if i & 1:
            out[i >> 1] = <unsigned char>(out[i >> 1] | v)
        else:
            out[i >> 1] = <unsigned char>(v << 4)
    return 0


cdef inline bint all_zero(const unsigned char* p, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i
    for i in range(n):
        if p[i]:
            return False
    return True


cdef const char* ATTR_METHOD = b"http.request.method"
cdef const char* ATTR_URL = b"url.full"
cdef const char* ATTR_AGENT = b"user_agent.original"
cdef const char* ATTR_CLIENT = b"client.address"
cdef const char* ATTR_STATUS = b"http.response.status_code"


cdef class _Decoder:
    cdef Col cols[NCOLS]
    cdef Buf scratch          # decoded strings and rendered values of the document
    cdef Buf pairs            # Pair entries (annotations) of the nodes being read
    cdef Buf excs             # Exc entries of the nodes being read
    cdef str tenant
    cdef int64_t now_ns
    cdef dict known
    cdef Py_ssize_t limit
    cdef list remembered      # (span id, service) of the document's nodes
    cdef Py_ssize_t rows

    def __cinit__(self, str tenant, int64_t now_ns, dict known, Py_ssize_t limit):
        cdef int i
        self.tenant = tenant
        self.now_ns = now_ns
        self.known = known
        self.limit = limit
        self.remembered = []
        for i in range(NCOLS):
            buf_i32(&self.cols[i].offsets, 0)

    def __dealloc__(self):
        cdef int i
        for i in range(NCOLS):
            buf_free(&self.cols[i].offsets)
            buf_free(&self.cols[i].data)
        buf_free(&self.scratch)
        buf_free(&self.pairs)
        buf_free(&self.excs)

    # ------------------------------------------------------------ documents

    cdef int document(self, bytes raw) except -1:
        """Appends the document's rows, or raises Declined with the columns as they were."""
        cdef ColMark marks[NCOLS]
        cdef int i
        cdef Py_ssize_t rows = self.rows
        for i in range(NCOLS):
            marks[i].offsets = self.cols[i].offsets.len
            marks[i].data = self.cols[i].data.len
            marks[i].n = self.cols[i].n
        try:
            self.read_document(raw)
        except Declined:
            for i in range(NCOLS):
                self.cols[i].offsets.len = marks[i].offsets
                self.cols[i].data.len = marks[i].data
                self.cols[i].n = marks[i].n
            self.rows = rows
            del self.remembered[:]
            raise
        for span_id, service in self.remembered:
            if len(self.known) >= self.limit:
                self.known.clear()
            self.known[(self.tenant, span_id)] = service
        del self.remembered[:]
        return 0

    cdef int read_document(self, bytes raw) except -1:
        cdef Reader r
        cdef Py_ssize_t n = PyBytes_GET_SIZE(raw)
        cdef cptr p = <cptr>PyBytes_AS_STRING(raw)
        cdef Node node
        cdef bint rewrite
        if n > MAX_DOCUMENT:
            raise _DECLINE
        r.p = p
        r.end = p + n
        self.scratch.len = 0
        self.pairs.len = 0
        self.excs.len = 0
        # Nodes keep their document as sent unless the document nests subsegments.
        rewrite = memmem_found(p, n, b'"subsegments"', 13)
        memset(&node, 0, sizeof(Node))
        self.node(&r, &node, True, None, 0, rewrite, p, n)
        ws(&r)
        if r.p != r.end:
            raise _DECLINE
        return 0

    cdef int node(self, Reader* r, Node* parent, bint top, object service, int depth,
                  bint rewrite, cptr raw, Py_ssize_t raw_n) except -1:
        """One node and, after its row, its subsegments. ``parent`` holds the trace id and
        the parent's span id (for nested nodes)."""
        cdef Node nd
        cdef Col* doc = &self.cols[C_DOC]
        cdef Py_ssize_t doc_from = doc.data.len
        cdef Buf* out = &doc.data if rewrite else NULL
        cdef Reader sub
        cdef bint segment
        cdef bytes span_key
        if depth > MAX_NODE_DEPTH:
            raise _DECLINE
        memset(&nd, 0, sizeof(Node))
        nd.pairs_from = nd.pairs_to = self.pairs.len // sizeof(Pair)
        nd.excs_from = nd.excs_to = self.excs.len // sizeof(Exc)
        self.members(r, &nd, top, out)
        if (nd.flags & (F_NAME | F_ID | F_START)) != (F_NAME | F_ID | F_START):
            raise _DECLINE
        if not (nd.flags & F_END) or nd.end < nd.start:
            raise _DECLINE  # in_progress nodes are declined where they are read
        if top:
            if not (nd.flags & F_TRACE):
                raise _DECLINE
            if nd.flags & F_SUBSEGMENT:
                if all_zero(nd.parent, 8):
                    raise _DECLINE
                segment = False
                service = self.known.get(
                    (self.tenant, PyBytes_FromStringAndSize(<char*>nd.parent, 8)), "")
            else:
                segment = True
        else:
            memcpy(nd.trace_id, parent.trace_id, 16)
            memcpy(nd.parent, parent.span_id, 8)
            segment = False
        if segment:
            service = PyUnicode_DecodeUTF8(<const char*>text_at(&nd.name, &self.scratch),
                                           nd.name.n, NULL)
        if (nd.flags & F_SUBS) and out == NULL:
            raise _DECLINE  # "subsegments" spelt with escapes: not found by the scan
        if top and not (nd.flags & F_SUBS):
            # Without nested subsegments a document is kept as it was sent.
            doc.data.len = doc_from
            buf_put(&doc.data, raw, raw_n)
        col_str(doc, NULL, 0)
        self.row(&nd, segment, service)
        span_key = PyBytes_FromStringAndSize(<char*>nd.span_id, 8)
        self.remembered.append((span_key, service))
        # The node's annotations and exceptions are in its row: their room is free again.
        self.pairs.len = nd.pairs_from * sizeof(Pair)
        self.excs.len = nd.excs_from * sizeof(Exc)
        if nd.subs != NULL:
            sub.p = nd.subs
            sub.end = nd.subs_end
            if peek(&sub, 110):  # null
                literal(&sub, NULL)
            else:
                expect(&sub, 91)
                if peek(&sub, 93):
                    sub.p += 1
                else:
                    while True:
                        ws(&sub)
                        if sub.p >= sub.end or sub.p[0] != 123:
                            raise _DECLINE
                        self.node(&sub, &nd, False, service, depth + 1, True, NULL, 0)
                        if not more(&sub, 93):
                            break
            ws(&sub)
            if sub.p != sub.end:
                raise _DECLINE
        return 0

    cdef int members(self, Reader* r, Node* nd, bint top, Buf* out) except -1:
        """Reads a node's object; writes it without "subsegments" to ``out`` when set (the
        members this decoder reads are written back from their bytes, the others as they
        are read)."""
        cdef Keys keys
        cdef Text key
        cdef cptr k
        cdef cptr v0
        cdef Py_ssize_t kn
        cdef bint first = True
        cdef bint reread
        cdef Text t
        keys.count = 0
        expect(r, 123)
        if out != NULL:
            buf_u8(out, 123)
        if peek(r, 125):
            raise _DECLINE  # no name
        while True:
            read_key(r, &keys, &self.scratch, &key)
            k = text_at(&key, &self.scratch)
            kn = key.n
            ws(r)
            v0 = r.p
            reread = out != NULL
            if key_is(k, kn, "subsegments", 11):
                nd.flags |= F_SUBS
                nd.subs = r.p
                skip(r)
                nd.subs_end = r.p
                reread = False
            elif out != NULL:
                put_key(out, &key, &self.scratch, &first)
            if key_is(k, kn, "subsegments", 11):
                pass
            elif key_is(k, kn, "name", 4):
                self.required_text(r, &nd.name, MAX_NAME_CHARS)
                nd.flags |= F_NAME
            elif key_is(k, kn, "id", 2):
                read_string(r, &t, &self.scratch)
                if not t.raw or t.n != 16:
                    raise _DECLINE
                unhex(t.p, 16, nd.span_id)
                if all_zero(nd.span_id, 8):
                    raise _DECLINE
                nd.flags |= F_ID
            elif key_is(k, kn, "start_time", 10):
                nd.start = self.seconds(r)
                if nd.start > self.now_ns + FUTURE_NS:
                    raise _DECLINE
                nd.flags |= F_START
            elif key_is(k, kn, "end_time", 8):
                nd.end = self.seconds(r)  # null (in progress, or refused) is declined
                if nd.end > self.now_ns + FUTURE_NS:
                    raise _DECLINE
                nd.flags |= F_END
            elif key_is(k, kn, "in_progress", 11):
                if r.p < r.end and r.p[0] == 116:  # true: kept aside, by the reference
                    raise _DECLINE
                value(r, NULL, &self.scratch, 1)
            elif key_is(k, kn, "error", 5):
                nd.error = self.flag(r)
            elif key_is(k, kn, "fault", 5):
                nd.fault = self.flag(r)
            elif key_is(k, kn, "throttle", 8):
                nd.throttle = self.flag(r)
            elif key_is(k, kn, "user", 4):
                self.optional_text(r, &nd.user, -1)
            elif key_is(k, kn, "namespace", 9):
                self.optional_text(r, &nd.namespace, MAX_NAME_CHARS)
            elif key_is(k, kn, "origin", 6):
                self.optional_text(r, &nd.origin, -1)
            elif key_is(k, kn, "http", 4):
                self.http(r, nd)
            elif key_is(k, kn, "annotations", 11):
                self.annotations(r, nd)
            elif key_is(k, kn, "cause", 5):
                self.cause(r, nd)
            elif key_is(k, kn, "service", 7):
                self.service(r, nd)
            elif top and key_is(k, kn, "trace_id", 8):
                read_string(r, &t, &self.scratch)
                if not t.raw:
                    raise _DECLINE
                parse_trace(t.p, t.n, nd.trace_id)
                nd.flags |= F_TRACE
            elif top and key_is(k, kn, "parent_id", 9):
                if r.p < r.end and r.p[0] == 110:
                    literal(r, NULL)
                else:
                    read_string(r, &t, &self.scratch)
                    if not t.raw or t.n != 16:
                        raise _DECLINE
                    unhex(t.p, 16, nd.parent)
            elif top and key_is(k, kn, "type", 4):
                if r.p < r.end and r.p[0] == 110:
                    literal(r, NULL)
                else:
                    read_string(r, &t, &self.scratch)
                    if t.raw and key_is(t.p, t.n, "subsegment", 10):
                        nd.flags |= F_SUBSEGMENT
                    elif not (t.raw and key_is(t.p, t.n, "segment", 7)):
                        raise _DECLINE
            else:
                if key_is(k, kn, "sql", 3):
                    nd.flags |= F_SQL
                value(r, out, &self.scratch, 1)  # written as it is read
                reread = False
            if reread:
                self.rewrite(out, v0, r.p)
            if not more(r, 125):
                break
        if out != NULL:
            buf_u8(out, 125)
        return 0

    cdef int rewrite(self, Buf* out, cptr v0, cptr v1) except -1:
        """Writes the value at [v0, v1) (read already) as orjson writes it back."""
        cdef Reader again
        cdef Py_ssize_t mark = self.scratch.len
        again.p = v0
        again.end = v1
        value(&again, out, &self.scratch, 1)
        self.scratch.len = mark
        return 0

    cdef int64_t seconds(self, Reader* r) except? -1:
        """``round(value * 1e9)`` for a positive number of seconds."""
        cdef Num num
        cdef double ns
        ws(r)
        if r.p >= r.end or not (r.p[0] == 45 or 48 <= r.p[0] <= 57):
            raise _DECLINE
        read_number(r, &num)
        if num.d <= 0:
            raise _DECLINE
        ns = nearbyint(num.d * 1e9)
        if not (ns < NS_LIMIT):
            raise _DECLINE
        return <int64_t>ns

    cdef uint8_t flag(self, Reader* r) except 255:
        cdef int lit
        ws(r)
        lit = literal(r, NULL)
        if lit == 2:
            raise _DECLINE
        return <uint8_t>lit

    cdef int required_text(self, Reader* r, Text* t, Py_ssize_t max_chars) except -1:
        read_string(r, t, &self.scratch)
        if t.n == 0 or utf8_chars(text_at(t, &self.scratch), t.n) > max_chars:
            raise _DECLINE
        return 0

    cdef int optional_text(self, Reader* r, Text* t, Py_ssize_t max_chars) except -1:
        """A string member the reference reads as ``get(key) or ""``: a string (at most
        ``max_chars`` characters when >= 0) or null."""
        ws(r)
        if r.p < r.end and r.p[0] == 110:
            literal(r, NULL)
            t.n = 0
            t.p = r.p
            t.raw = True
            return 0
        read_string(r, t, &self.scratch)
        if max_chars >= 0 and t.n > max_chars and utf8_chars(
            text_at(t, &self.scratch), t.n
        ) > max_chars:
            raise _DECLINE
        return 0

    cdef int http(self, Reader* r, Node* nd) except -1:
        cdef Keys keys
        cdef Text key
        cdef cptr k
        cdef Py_ssize_t kn
        keys.count = 0
        if not members_follow(r):
            return 0
        while True:
            read_key(r, &keys, &self.scratch, &key)
            k = text_at(&key, &self.scratch)
            kn = key.n
            if key_is(k, kn, "request", 7):
                self.http_request(r, nd)
            elif key_is(k, kn, "response", 8):
                self.http_response(r, nd)
            else:
                value(r, NULL, &self.scratch, 2)
            if not more(r, 125):
                return 0

    cdef int http_request(self, Reader* r, Node* nd) except -1:
        cdef Keys keys
        cdef Text key
        cdef cptr k
        cdef Py_ssize_t kn
        keys.count = 0
        if not members_follow(r):
            return 0
        while True:
            read_key(r, &keys, &self.scratch, &key)
            k = text_at(&key, &self.scratch)
            kn = key.n
            if key_is(k, kn, "method", 6):
                self.optional_text(r, &nd.method, -1)
            elif key_is(k, kn, "url", 3):
                self.optional_text(r, &nd.url, -1)
            elif key_is(k, kn, "user_agent", 10):
                self.optional_text(r, &nd.agent, -1)
            elif key_is(k, kn, "client_ip", 9):
                self.optional_text(r, &nd.client_ip, -1)
            else:
                value(r, NULL, &self.scratch, 3)
            if not more(r, 125):
                return 0

    cdef int http_response(self, Reader* r, Node* nd) except -1:
        cdef Keys keys
        cdef Text key
        cdef cptr k
        cdef Py_ssize_t kn
        cdef Num num
        keys.count = 0
        if not members_follow(r):
            return 0
        while True:
            read_key(r, &keys, &self.scratch, &key)
            k = text_at(&key, &self.scratch)
            kn = key.n
            ws(r)
            if key_is(k, kn, "status", 6) and r.p < r.end and (
                r.p[0] == 45 or 48 <= r.p[0] <= 57
            ):
                read_number(r, &num)
                if num.integer:
                    nd.flags |= F_STATUS
                    nd.status = <int>num.i if 0 <= num.i <= 65535 else 0
            else:
                value(r, NULL, &self.scratch, 3)
            if not more(r, 125):
                return 0

    cdef int annotations(self, Reader* r, Node* nd) except -1:
        cdef Keys keys
        cdef Text key
        cdef cptr k
        cdef Py_ssize_t kn, i
        cdef Pair pair
        cdef Num num
        cdef int lit
        cdef unsigned char c
        keys.count = 0
        if not members_follow(r):
            return 0
        while True:
            read_key(r, &keys, &self.scratch, &key)
            k = text_at(&key, &self.scratch)
            kn = key.n
            if kn < 1 or kn > MAX_ANNOTATION_KEY:
                raise _DECLINE
            for i in range(kn):
                c = k[i]
                if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c == 95):
                    raise _DECLINE
            pair.key = key
            ws(r)
            if r.p >= r.end:
                raise _DECLINE
            c = r.p[0]
            if c == 34:
                read_string(r, &pair.value, &self.scratch)
                if pair.value.n > MAX_ANNOTATION_CHARS and utf8_chars(
                    text_at(&pair.value, &self.scratch), pair.value.n
                ) > MAX_ANNOTATION_CHARS:
                    raise _DECLINE
                pair.typed = False
            else:
                # Numbers and booleans are kept as their JSON text, and typed.
                pair.value.p = NULL
                pair.value.off = self.scratch.len
                pair.value.raw = True
                if c == 45 or 48 <= c <= 57:
                    read_number(r, &num)
                    put_number(&self.scratch, &num)
                else:
                    lit = literal(r, &self.scratch)
                    if lit == 2:
                        raise _DECLINE
                pair.value.n = self.scratch.len - pair.value.off
                pair.typed = True
            buf_put(&self.pairs, &pair, sizeof(Pair))
            nd.pairs_to += 1
            if not more(r, 125):
                return 0

    cdef int cause(self, Reader* r, Node* nd) except -1:
        cdef Keys keys
        cdef Text key
        cdef cptr k
        cdef Py_ssize_t kn
        cdef Text t
        ws(r)
        if r.p < r.end and r.p[0] == 34:  # an exception id: no events
            read_string(r, &t, &self.scratch)
            return 0
        keys.count = 0
        if not members_follow(r):
            return 0
        while True:
            read_key(r, &keys, &self.scratch, &key)
            k = text_at(&key, &self.scratch)
            kn = key.n
            if key_is(k, kn, "exceptions", 10):
                ws(r)
                if r.p < r.end and r.p[0] == 110:
                    literal(r, NULL)
                else:
                    expect(r, 91)
                    if peek(r, 93):
                        r.p += 1
                    else:
                        while True:
                            self.exception(r, nd)
                            if not more(r, 93):
                                break
            else:
                value(r, NULL, &self.scratch, 2)
            if not more(r, 125):
                return 0

    cdef int exception(self, Reader* r, Node* nd) except -1:
        cdef Keys keys
        cdef Text key
        cdef cptr k
        cdef Py_ssize_t kn
        cdef Exc e
        memset(&e, 0, sizeof(Exc))
        e.stack_off = -1
        e.type.raw = e.message.raw = True
        e.type.p = e.message.p = r.p
        expect(r, 123)
        keys.count = 0
        if not peek(r, 125):
            while True:
                read_key(r, &keys, &self.scratch, &key)
                k = text_at(&key, &self.scratch)
                kn = key.n
                if key_is(k, kn, "message", 7):
                    self.optional_text(r, &e.message, -1)
                elif key_is(k, kn, "type", 4):
                    self.optional_text(r, &e.type, -1)
                elif key_is(k, kn, "stack", 5):
                    ws(r)
                    if r.p < r.end and r.p[0] == 91:
                        self.stack(r, &e)
                    else:
                        value(r, NULL, &self.scratch, 4)
                else:
                    value(r, NULL, &self.scratch, 4)
                if not more(r, 125):
                    break
        else:
            r.p += 1
        buf_put(&self.excs, &e, sizeof(Exc))
        nd.excs_to += 1
        return 0

    cdef int stack(self, Reader* r, Exc* e) except -1:
        """``  at {label} ({path}:{line})`` per frame object, joined by newlines; a
        non-empty list gives a stack trace even when no element is a frame."""
        cdef Py_ssize_t lines = 0
        cdef Buf frame
        expect(r, 91)
        if peek(r, 93):
            r.p += 1
            return 0
        # Frames are rendered into a buffer of their own, then copied to scratch (the
        # strings they read land in scratch meanwhile).
        frame.data = NULL
        frame.len = frame.cap = 0
        try:
            while True:
                ws(r)
                if r.p < r.end and r.p[0] == 123:
                    if lines:
                        buf_u8(&frame, 10)
                    self.frame(r, &frame)
                    lines += 1
                else:
                    value(r, NULL, &self.scratch, 5)
                if not more(r, 93):
                    break
            e.stack_off = self.scratch.len
            e.stack_n = frame.len
            buf_put(&self.scratch, frame.data, frame.len)
        finally:
            buf_free(&frame)
        return 0

    cdef int frame(self, Reader* r, Buf* out) except -1:
        cdef Keys keys
        cdef Text key
        cdef cptr k
        cdef Py_ssize_t kn
        cdef Text parts[3]
        cdef Py_ssize_t mark = self.scratch.len
        cdef int i, j
        cdef Num num
        for i in range(3):
            parts[i].p = r.p
            parts[i].n = 0
            parts[i].raw = True
        expect(r, 123)
        keys.count = 0
        if not peek(r, 125):
            while True:
                read_key(r, &keys, &self.scratch, &key)
                k = text_at(&key, &self.scratch)
                kn = key.n
                if key_is(k, kn, "label", 5):
                    j = 0
                elif key_is(k, kn, "path", 4):
                    j = 1
                elif key_is(k, kn, "line", 4):
                    j = 2
                else:
                    j = -1
                if j < 0:
                    value(r, NULL, &self.scratch, 6)
                else:
                    ws(r)
                    if r.p < r.end and r.p[0] == 34:
                        read_string(r, &parts[j], &self.scratch)
                    elif r.p < r.end and (r.p[0] == 45 or 48 <= r.p[0] <= 57):
                        read_number(r, &num)
                        if not num.integer:
                            raise _DECLINE  # str(float) is not worth copying
                        parts[j].p = NULL
                        parts[j].off = self.scratch.len
                        put_int(&self.scratch, num.i)
                        parts[j].n = self.scratch.len - parts[j].off
                    else:
                        raise _DECLINE  # None, True, lists ... as Python prints them
                if not more(r, 125):
                    break
        else:
            r.p += 1
        buf_put(out, b"  at ", 5)
        buf_put(out, text_at(&parts[0], &self.scratch), parts[0].n)
        buf_put(out, b" (", 2)
        buf_put(out, text_at(&parts[1], &self.scratch), parts[1].n)
        buf_u8(out, 58)
        buf_put(out, text_at(&parts[2], &self.scratch), parts[2].n)
        buf_u8(out, 41)
        self.scratch.len = mark
        return 0

    cdef int service(self, Reader* r, Node* nd) except -1:
        cdef Keys keys
        cdef Text key
        cdef cptr k
        cdef Py_ssize_t kn
        ws(r)
        if r.p >= r.end or r.p[0] != 123:
            return value(r, NULL, &self.scratch, 1)  # not an object: ignored
        r.p += 1
        keys.count = 0
        if peek(r, 125):
            r.p += 1
            return 0
        while True:
            read_key(r, &keys, &self.scratch, &key)
            k = text_at(&key, &self.scratch)
            kn = key.n
            ws(r)
            if key_is(k, kn, "version", 7) and r.p < r.end and r.p[0] == 34:
                read_string(r, &nd.version, &self.scratch)
                if nd.version.n:
                    nd.flags |= F_VERSION
            else:
                value(r, NULL, &self.scratch, 2)
            if not more(r, 125):
                return 0

    # ------------------------------------------------------------ rows

    cdef int put(self, int c, Text* t) except -1:
        return col_str(&self.cols[c], text_at(t, &self.scratch), t.n)

    cdef int row(self, Node* nd, bint segment, str service) except -1:
        cdef Col* cols = self.cols
        cdef Py_ssize_t i, typed = 0
        cdef Pair* pair
        cdef Exc* e
        cdef Text* first_message = NULL
        cdef const char* svc
        cdef Py_ssize_t svc_n
        cdef bint calls_out
        cdef Py_ssize_t status_off
        svc = PyUnicode_AsUTF8AndSize(service, &svc_n)
        calls_out = key_is(text_at(&nd.namespace, &self.scratch), nd.namespace.n, "aws", 3) or \
            key_is(text_at(&nd.namespace, &self.scratch), nd.namespace.n, "remote", 6)
        buf_put(&cols[C_TRACE].data, nd.trace_id, 16)
        cols[C_TRACE].n += 1
        buf_put(&cols[C_SPAN].data, nd.span_id, 8)
        cols[C_SPAN].n += 1
        buf_put(&cols[C_PARENT].data, nd.parent, 8)
        cols[C_PARENT].n += 1
        self.put(C_NAME, &nd.name)
        col_u8(&cols[C_KIND], 2 if segment else (3 if calls_out else 1))
        col_str(&cols[C_SERVICE], svc, svc_n)
        col_i64(&cols[C_START], nd.start)
        col_i64(&cols[C_END], nd.end)
        col_u8(&cols[C_STATUS], 2 if nd.fault else 0)
        # attributes: annotations, http fields, status, user (the reference's order)
        for i in range(nd.pairs_from, nd.pairs_to):
            pair = (<Pair*>self.pairs.data) + i
            self.put(C_ATTR_K, &pair.key)
            self.put(C_ATTR_V, &pair.value)
            self.put(C_ANN_K, &pair.key)
            self.put(C_ANN_V, &pair.value)
            if pair.typed:
                self.put(C_TYPED_V, &pair.key)
                typed += 1
        col_close(&cols[C_ANN], cols[C_ANN_K].n)
        self.http_attr(ATTR_METHOD, &nd.method)
        self.http_attr(ATTR_URL, &nd.url)
        self.http_attr(ATTR_AGENT, &nd.agent)
        self.http_attr(ATTR_CLIENT, &nd.client_ip)
        if nd.flags & F_STATUS:
            col_str(&cols[C_ATTR_K], ATTR_STATUS, 25)
            status_off = self.scratch.len
            put_int(&self.scratch, nd.status)
            col_str(&cols[C_ATTR_V], self.scratch.data + status_off, self.scratch.len - status_off)
            self.scratch.len = status_off
            col_str(&cols[C_TYPED_V], ATTR_STATUS, 25)
            typed += 1
        if nd.user.n:
            col_str(&cols[C_ATTR_K], b"enduser.id", 10)
            self.put(C_ATTR_V, &nd.user)
        col_close(&cols[C_ATTRS], cols[C_ATTR_K].n)
        col_close(&cols[C_TYPED], cols[C_TYPED_V].n)
        # resource
        col_str(&cols[C_RES_K], b"service.name", 12)
        col_str(&cols[C_RES_V], svc, svc_n)
        if nd.flags & F_VERSION:
            col_str(&cols[C_RES_K], b"service.version", 15)
            self.put(C_RES_V, &nd.version)
        col_close(&cols[C_RES], cols[C_RES_K].n)
        # events: one per exception of the cause
        for i in range(nd.excs_from, nd.excs_to):
            e = (<Exc*>self.excs.data) + i
            if first_message == NULL and e.message.n:
                first_message = &e.message
            col_i64(&cols[C_EV_TIME], nd.end)
            col_str(&cols[C_EV_NAME], b"exception", 9)
            col_str(&cols[C_EV_K], b"exception.type", 14)
            self.put(C_EV_V, &e.type)
            col_str(&cols[C_EV_K], b"exception.message", 17)
            self.put(C_EV_V, &e.message)
            if e.stack_off >= 0:
                col_str(&cols[C_EV_K], b"exception.stacktrace", 20)
                col_str(&cols[C_EV_V], self.scratch.data + e.stack_off, e.stack_n)
            col_close(&cols[C_EV_ATTRS], cols[C_EV_K].n)
        col_close(&cols[C_EVENTS], cols[C_EV_TIME].n)
        if nd.fault and first_message != NULL:
            self.put(C_STATUS_MSG, first_message)
        else:
            col_str(&cols[C_STATUS_MSG], NULL, 0)
        col_u8(&cols[C_SEGMENT], 1 if segment else 0)
        if segment:
            self.put(C_ORIGIN, &nd.origin)
        else:
            col_str(&cols[C_ORIGIN], NULL, 0)
        self.put(C_NAMESPACE, &nd.namespace)
        self.put(C_USER, &nd.user)
        self.put(C_HTTP_METHOD, &nd.method)
        self.put(C_HTTP_URL, &nd.url)
        buf_put(&cols[C_HTTP_STATUS].data, &nd.status, 2)  # little-endian uint16
        cols[C_HTTP_STATUS].n += 1
        self.put(C_HTTP_UA, &nd.agent)
        self.put(C_HTTP_IP, &nd.client_ip)
        col_u8(&cols[C_ERROR], nd.error)
        col_u8(&cols[C_FAULT], nd.fault)
        col_u8(&cols[C_THROTTLE], nd.throttle)
        if not segment and calls_out:
            self.put(C_REMOTE_SVC, &nd.name)
            if nd.namespace.n == 3:
                buf_put(&cols[C_REMOTE_TYPE].data, b"AWS::", 5)
                self.put(C_REMOTE_TYPE, &nd.name)
            elif nd.flags & F_SQL:
                col_str(&cols[C_REMOTE_TYPE], b"Database::SQL", 13)
            else:
                col_str(&cols[C_REMOTE_TYPE], b"remote", 6)
        else:
            col_str(&cols[C_REMOTE_SVC], NULL, 0)
            col_str(&cols[C_REMOTE_TYPE], NULL, 0)
        self.rows += 1
        return 0

    cdef int http_attr(self, const char* name, Text* t) except -1:
        if t.n:
            col_str(&self.cols[C_ATTR_K], name, len(name))
            self.put(C_ATTR_V, t)
        return 0

    # ------------------------------------------------------------ the table

    cdef object table(self):
        cdef Col* c = self.cols
        cdef Py_ssize_t n = self.rows
        cdef Py_ssize_t events = c[C_EV_TIME].n
        if n == 0:
            return None
        event_children = [
            col_fixed_array(&c[C_EV_TIME], pa.timestamp("ns")),
            col_string_array(&c[C_EV_NAME]),
            col_map_array(&c[C_EV_ATTRS], &c[C_EV_K], &c[C_EV_V]),
            empty_lists(TYPED_KEYS, events, pa.array([], pa.string())),
        ]
        event_structs = pa.StructArray.from_arrays(event_children, fields=list(EVENT))
        columns = {
            "tenant": constant(self.tenant, n),
            "trace_id": col_fixed_array(&c[C_TRACE], pa.binary(16)),
            "span_id": col_fixed_array(&c[C_SPAN], pa.binary(8)),
            "parent_span_id": col_fixed_array(&c[C_PARENT], pa.binary(8)),
            "trace_state": constant("", n),
            "name": col_string_array(&c[C_NAME]),
            "kind": col_fixed_array(&c[C_KIND], pa.uint8()),
            "service": col_string_array(&c[C_SERVICE]),
            "start_time": col_fixed_array(&c[C_START], pa.timestamp("ns")),
            "end_time": col_fixed_array(&c[C_END], pa.timestamp("ns")),
            "status_code": col_fixed_array(&c[C_STATUS], pa.uint8()),
            "status_message": col_string_array(&c[C_STATUS_MSG]),
            "attributes": col_map_array(&c[C_ATTRS], &c[C_ATTR_K], &c[C_ATTR_V]),
            "attributes_typed": pa.Array.from_buffers(
                TYPED_KEYS, n, [None, buf_arrow(&c[C_TYPED].offsets)],
                children=[col_string_array(&c[C_TYPED_V])]),
            "resource": col_map_array(&c[C_RES], &c[C_RES_K], &c[C_RES_V]),
            "resource_typed": empty_lists(TYPED_KEYS, n, pa.array([], pa.string())),
            "scope_name": constant("aws-xray", n),
            "scope_version": constant("", n),
            "events": pa.Array.from_buffers(
                pa.list_(EVENT), n, [None, buf_arrow(&c[C_EVENTS].offsets)],
                children=[event_structs]),
            "links": empty_lists(pa.list_(LINK), n, pa.array([], LINK)),
            "source": constant("xray", n),
            "segment": col_fixed_array(&c[C_SEGMENT], pa.uint8()),
            "origin": col_string_array(&c[C_ORIGIN]),
            "namespace": col_string_array(&c[C_NAMESPACE]),
            "user": col_string_array(&c[C_USER]),
            "annotations": col_map_array(&c[C_ANN], &c[C_ANN_K], &c[C_ANN_V]),
            "http_method": col_string_array(&c[C_HTTP_METHOD]),
            "http_url": col_string_array(&c[C_HTTP_URL]),
            "http_status": col_fixed_array(&c[C_HTTP_STATUS], pa.uint16()),
            "http_user_agent": col_string_array(&c[C_HTTP_UA]),
            "http_client_ip": col_string_array(&c[C_HTTP_IP]),
            "error": col_fixed_array(&c[C_ERROR], pa.uint8()),
            "fault": col_fixed_array(&c[C_FAULT], pa.uint8()),
            "throttle": col_fixed_array(&c[C_THROTTLE], pa.uint8()),
            "remote_service": col_string_array(&c[C_REMOTE_SVC]),
            "remote_type": col_string_array(&c[C_REMOTE_TYPE]),
            "document": col_string_array(&c[C_DOC]),
        }
        return pa.Table.from_arrays(
            [columns[name] for name in XRAY_SPAN_SCHEMA.names], schema=XRAY_SPAN_SCHEMA)


cdef extern from "<string.h>" nogil:
    void* memmem(const void* hay, size_t n, const void* needle, size_t m)


cdef inline bint memmem_found(cptr hay, Py_ssize_t n, const char* needle, Py_ssize_t m) noexcept:
    return memmem(hay, n, needle, m) != NULL


cdef int parse_trace(cptr s, Py_ssize_t n, unsigned char* out) except -1:
    """``1-{8 hex}-{24 hex}`` or 32 hex digits."""
    if n == 35 and s[0] == 49 and s[1] == 45 and s[10] == 45:
        unhex(s + 2, 8, out)
        unhex(s + 11, 24, out + 4)
        return 0
    if n == 32:
        return unhex(s, 32, out)
    raise _DECLINE


def decode(list docs, str tenant, int64_t now_ns, dict known, Py_ssize_t limit, fallback):
    """The accepted documents' rows as a table (None if none); ``fallback(i)`` takes the
    others, in order."""
    cdef _Decoder dec = _Decoder(tenant, now_ns, known, limit)
    cdef Py_ssize_t i, size = 0
    for raw in docs:
        if type(raw) is bytes:
            size += PyBytes_GET_SIZE(raw)
    # The stored documents take about as many bytes as were sent: one allocation, not a
    # series of doublings (each a copy and fresh pages to fault in).
    buf_grow(&dec.cols[C_DOC].data, size)
    for i in range(len(docs)):
        if i % 32 == 31:
            with nogil:
                pass  # a turn for threads waiting on the GIL (the daemon's receiver)
        raw = docs[i]
        if type(raw) is not bytes:
            fallback(i)
            continue
        try:
            dec.document(<bytes>raw)
        except Declined:
            # The one instance is raised again and again: each raise would add its frames
            # to the traceback it carries (a leak per declined document).
            _DECLINE.__traceback__ = None
            fallback(i)
    return dec.table()


# ---------------------------------------------------------------- receiving datagrams

cdef extern from *:
    """
    #include <errno.h>
    #include <poll.h>
    #include <string.h>
    #include <sys/socket.h>
    #include <sys/uio.h>

    /* Waits up to timeout_ms for datagrams on fd, then reads up to n of them without
       blocking into slots of `size` bytes at `buf`; their lengths go to `lens`.
       Returns how many were read (0: none came), or -errno. Linux reads them with one
       recvmmsg call; elsewhere with one recv each. */
    static int vigil_recv_batch(int fd, unsigned char *buf, size_t size, unsigned int n,
                                unsigned int *lens, int timeout_ms) {
        struct pollfd p;
        p.fd = fd;
        p.events = POLLIN;
        p.revents = 0;
        int ready = poll(&p, 1, timeout_ms);
        if (ready < 0) return errno == EINTR ? 0 : -errno;
        if (ready == 0) return 0;
    #ifdef __linux__
        struct mmsghdr msgs[256];
        struct iovec iovs[256];
        if (n > 256) n = 256;
        memset(msgs, 0, sizeof(struct mmsghdr) * n);
        for (unsigned int i = 0; i < n; i++) {
            iovs[i].iov_base = buf + i * size;
            iovs[i].iov_len = size;
            msgs[i].msg_hdr.msg_iov = &iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int got = recvmmsg(fd, msgs, n, MSG_DONTWAIT, NULL);
        if (got < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -errno;
        for (int i = 0; i < got; i++) lens[i] = msgs[i].msg_len;
        return got;
    #else
        unsigned int got = 0;
        while (got < n) {
            ssize_t len = recv(fd, buf + got * size, size, MSG_DONTWAIT);
            if (len < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
                return got ? (int)got : -errno;
            }
            lens[got++] = (unsigned int)len;
        }
        return (int)got;
    #endif
    }
    """
    int vigil_recv_batch(int fd, unsigned char* buf, size_t size, unsigned int n,
                         unsigned int* lens, int timeout_ms) nogil


# The header line as the SDKs write it (json.dumps / most JSON writers), and compact.
cdef bytes HEADER = b'{"format": "json", "version": 1}\n'
cdef bytes HEADER_COMPACT = b'{"format":"json","version":1}\n'
cdef enum:
    SLOT = 65536
    SLOTS = 256


cdef class Receiver:
    """Reads a UDP socket's datagrams in batches (the wait and the reads without the GIL)
    and splits off the daemon protocol's header line."""

    cdef int fd
    cdef unsigned char* buf
    cdef unsigned int lens[SLOTS]

    def __cinit__(self, int fd):
        self.fd = fd
        self.buf = <unsigned char*>PyMem_Malloc(<size_t>SLOT * SLOTS)
        if self.buf == NULL:
            raise MemoryError()

    def __dealloc__(self):
        PyMem_Free(self.buf)

    def receive(self, int timeout_ms):
        """``(bodies, others)``: the documents of datagrams with a usual header, and the
        whole datagrams with any other (the caller checks those); both empty when nothing
        came within ``timeout_ms``."""
        cdef int got, i
        cdef unsigned char* d
        cdef unsigned int n
        cdef Py_ssize_t h1 = len(HEADER), h2 = len(HEADER_COMPACT)
        cdef list bodies = []
        cdef list others = []
        with nogil:
            got = vigil_recv_batch(self.fd, self.buf, SLOT, SLOTS, self.lens, timeout_ms)
        if got < 0:
            raise OSError(-got, "X-Ray daemon socket")
        for i in range(got):
            d = self.buf + <size_t>i * SLOT
            n = self.lens[i]
            if n >= h1 and memcmp(d, PyBytes_AS_STRING(HEADER), h1) == 0:
                bodies.append(PyBytes_FromStringAndSize(<char*>d + h1, n - h1))
            elif n >= h2 and memcmp(d, PyBytes_AS_STRING(HEADER_COMPACT), h2) == 0:
                bodies.append(PyBytes_FromStringAndSize(<char*>d + h2, n - h2))
            else:
                others.append(PyBytes_FromStringAndSize(<char*>d, n))
        return bodies, others
