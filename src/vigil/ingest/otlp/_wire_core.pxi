# Shared pieces of the native OTLP decoders (included by _wire.pyx): bounds-checked
# protobuf wire reading, UTF-8 validation, growable Arrow buffers, attribute sets and the
# rendering of AnyValue scalars exactly as vigil.ingest.otlp.common renders them.
#
# The rule that keeps the native path safe: it accepts a SUBSET of what upb accepts and,
# for that subset, produces exactly what the reference decoders produce. Anything malformed
# or unusual (merged sub-messages, several members of a oneof, groups, deep nesting, invalid
# UTF-8 ...) raises Fallback, and the caller runs the reference path, which gives the answer
# (usually a 400) with the reference's own words.

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy, memset
from libc.stdlib cimport qsort
from libc.math cimport isnan, isinf, isfinite
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.unicode cimport PyUnicode_DecodeUTF8, PyUnicode_AsUTF8String

cdef extern from "Python.h":
    char* PyOS_double_to_string(double val, char format_code, int precision, int flags,
                                int* ptype) except NULL
    int Py_DTSF_ADD_DOT_0

ctypedef const unsigned char* cptr

cdef enum:
    WT_VARINT = 0
    WT_I64 = 1
    WT_LEN = 2
    WT_I32 = 5
    # Well under upb's limit (100), so that whatever native accepts, upb accepts too.
    MAX_DEPTH = 64
    # Attribute sets larger than this find duplicate keys with a dict, not a scan.
    LINEAR_DEDUP = 24

cdef int64_t INT32_LIMIT = 2147483647


class Fallback(Exception):
    """The native decoder declines this request; the reference decoder must run."""


cdef object _FALLBACK = Fallback()


# ---------------------------------------------------------------- wire reading

cdef inline int rd_varint(cptr* pp, cptr end, uint64_t* out) except -1:
    cdef cptr p = pp[0]
    cdef uint64_t result = 0
    cdef uint64_t b
    cdef int shift = 0
    while True:
        if p >= end:
            raise _FALLBACK
        b = p[0]
        p += 1
        if shift == 63:
            if b & 0x80:
                raise _FALLBACK  # more than 10 bytes
            result |= (b & 1) << 63
            break
        result |= (b & 0x7F) << shift
        if not (b & 0x80):
            break
        shift += 7
    pp[0] = p
    out[0] = result
    return 0


cdef inline int rd_tag(cptr* pp, cptr end, uint32_t* field, int* wt) except -1:
    cdef cptr p = pp[0]
    cdef uint64_t tag
    if p < end and p[0] < 0x80:  # one-byte tags: nearly all of OTLP
        tag = p[0]
        pp[0] = p + 1
    else:
        rd_varint(pp, end, &tag)
        if pp[0] - p > 5 or tag > 0xFFFFFFFFULL:
            raise _FALLBACK
    field[0] = <uint32_t>(tag >> 3)
    wt[0] = <int>(tag & 7)
    if field[0] == 0:
        raise _FALLBACK
    return 0


cdef inline int rd_len(cptr* pp, cptr end, cptr* start, cptr* stop) except -1:
    cdef uint64_t n
    rd_varint(pp, end, &n)
    if n > <uint64_t>(end - pp[0]):
        raise _FALLBACK
    start[0] = pp[0]
    stop[0] = pp[0] + n
    pp[0] = stop[0]
    return 0


cdef inline int rd_fixed64(cptr* pp, cptr end, uint64_t* out) except -1:
    if end - pp[0] < 8:
        raise _FALLBACK
    memcpy(out, pp[0], 8)  # little-endian machines only (checked at import)
    pp[0] += 8
    return 0


cdef inline int rd_fixed32(cptr* pp, cptr end, uint32_t* out) except -1:
    if end - pp[0] < 4:
        raise _FALLBACK
    memcpy(out, pp[0], 4)
    pp[0] += 4
    return 0


cdef inline double as_double(uint64_t bits) noexcept:
    cdef double d
    memcpy(&d, &bits, 8)
    return d


cdef int skip_field(cptr* pp, cptr end, int wt) except -1:
    """Skips an unknown field (or a known one the decoder does not use)."""
    cdef uint64_t ignored
    cdef cptr a
    cdef cptr b
    if wt == WT_VARINT:
        rd_varint(pp, end, &ignored)
    elif wt == WT_I64:
        if end - pp[0] < 8:
            raise _FALLBACK
        pp[0] += 8
    elif wt == WT_LEN:
        rd_len(pp, end, &a, &b)
    elif wt == WT_I32:
        if end - pp[0] < 4:
            raise _FALLBACK
        pp[0] += 4
    else:
        raise _FALLBACK  # groups and invalid wire types
    return 0


# ---------------------------------------------------------------- UTF-8

cdef bint utf8_valid(cptr s, Py_ssize_t n) noexcept nogil:
    """Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), like upb."""
    cdef Py_ssize_t i = 0
    cdef uint64_t word
    cdef unsigned char c, c1
    while i < n:
        while i + 8 <= n:
            memcpy(&word, s + i, 8)
            if word & 0x8080808080808080ULL:
                break
            i += 8
        if i >= n:
            break
        c = s[i]
        if c < 0x80:
            i += 1
        elif c < 0xC2:
            return False
        elif c < 0xE0:
            if i + 1 >= n or (s[i + 1] & 0xC0) != 0x80:
                return False
            i += 2
        elif c < 0xF0:
            if i + 2 >= n:
                return False
            c1 = s[i + 1]
            if c == 0xE0:
                if c1 < 0xA0 or c1 > 0xBF:
                    return False
            elif c == 0xED:
                if c1 < 0x80 or c1 > 0x9F:
                    return False
            elif (c1 & 0xC0) != 0x80:
                return False
            if (s[i + 2] & 0xC0) != 0x80:
                return False
            i += 3
        elif c < 0xF5:
            if i + 3 >= n:
                return False
            c1 = s[i + 1]
            if c == 0xF0:
                if c1 < 0x90 or c1 > 0xBF:
                    return False
            elif c == 0xF4:
                if c1 < 0x80 or c1 > 0x8F:
                    return False
            elif (c1 & 0xC0) != 0x80:
                return False
            if (s[i + 2] & 0xC0) != 0x80 or (s[i + 3] & 0xC0) != 0x80:
                return False
            i += 4
        else:
            return False
    return True


cdef Py_ssize_t utf8_chars(cptr s, Py_ssize_t n) noexcept nogil:
    """Code points in valid UTF-8 (what Python's len() gives for the decoded text)."""
    cdef Py_ssize_t i, count = 0
    for i in range(n):
        if (s[i] & 0xC0) != 0x80:
            count += 1
    return count


cdef inline int rd_string(cptr* pp, cptr end, cptr* start, cptr* stop) except -1:
    rd_len(pp, end, start, stop)
    if not utf8_valid(start[0], stop[0] - start[0]):
        raise _FALLBACK
    return 0


cdef inline str py_text(cptr s, Py_ssize_t n):
    return PyUnicode_DecodeUTF8(<const char*>s, n, NULL)


# ---------------------------------------------------------------- growable buffers

cdef struct Buf:
    unsigned char* data
    Py_ssize_t len
    Py_ssize_t cap


cdef int buf_grow(Buf* b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t cap = b.cap * 2 if b.cap else 256
    cdef unsigned char* d
    while cap < b.len + extra:
        cap *= 2
    d = <unsigned char*>PyMem_Realloc(b.data, cap)
    if d == NULL:
        raise MemoryError()
    b.data = d
    b.cap = cap
    return 0


cdef inline int buf_put(Buf* b, const void* src, Py_ssize_t n) except -1:
    if b.len + n > b.cap:
        buf_grow(b, n)
    if n:
        memcpy(b.data + b.len, src, n)
    b.len += n
    return 0


cdef inline int buf_zeros(Buf* b, Py_ssize_t n) except -1:
    if b.len + n > b.cap:
        buf_grow(b, n)
    memset(b.data + b.len, 0, n)
    b.len += n
    return 0


cdef inline int buf_i32(Buf* b, int32_t v) except -1:
    return buf_put(b, &v, 4)


cdef inline int buf_u8(Buf* b, uint8_t v) except -1:
    return buf_put(b, &v, 1)


cdef inline int buf_u32(Buf* b, uint32_t v) except -1:
    return buf_put(b, &v, 4)


cdef inline int buf_i64(Buf* b, int64_t v) except -1:
    return buf_put(b, &v, 8)


cdef inline int buf_u64(Buf* b, uint64_t v) except -1:
    return buf_put(b, &v, 8)


cdef inline int buf_f64(Buf* b, double v) except -1:
    return buf_put(b, &v, 8)


cdef inline void buf_free(Buf* b) noexcept:
    PyMem_Free(b.data)
    b.data = NULL
    b.len = b.cap = 0


cdef object buf_arrow(Buf* b):
    return pa.py_buffer(PyBytes_FromStringAndSize(<char*>b.data, b.len))


cdef class Column:
    """Arrow buffers of one column, filled in place, for any type of the model schemas.

    Strings: offsets + data. Fixed-width values: data. Lists and maps: offsets plus child
    columns. Structs: child columns only.
    """

    cdef Buf offsets
    cdef Buf data
    cdef public object type
    cdef public list children
    cdef Py_ssize_t length
    cdef bint has_offsets

    def __cinit__(self, object arrow_type):
        self.type = arrow_type
        self.children = []
        self.length = 0
        if pa.types.is_string(arrow_type):
            self.has_offsets = True
        elif pa.types.is_map(arrow_type):
            self.has_offsets = True
            self.children = [Column(arrow_type.key_type), Column(arrow_type.item_type)]
        elif pa.types.is_list(arrow_type):
            self.has_offsets = True
            self.children = [Column(arrow_type.value_type)]
        elif pa.types.is_struct(arrow_type):
            self.has_offsets = False
            self.children = [Column(arrow_type.field(i).type) for i in range(arrow_type.num_fields)]
        else:
            self.has_offsets = False
        if self.has_offsets:
            buf_i32(&self.offsets, 0)

    def __dealloc__(self):
        buf_free(&self.offsets)
        buf_free(&self.data)

    cdef inline int put_str(self, const void* s, Py_ssize_t n) except -1:
        buf_put(&self.data, s, n)
        if self.data.len > INT32_LIMIT:
            raise RequestTooLarge()
        buf_i32(&self.offsets, <int32_t>self.data.len)
        self.length += 1
        return 0

    cdef inline int end_list(self, Py_ssize_t child_length) except -1:
        """Closes one list (or map) row whose items were appended to the children."""
        if child_length > INT32_LIMIT:
            raise RequestTooLarge()
        buf_i32(&self.offsets, <int32_t>child_length)
        self.length += 1
        return 0

    cdef object finish(self):
        if pa.types.is_string(self.type):
            return pa.Array.from_buffers(
                self.type, self.length,
                [None, buf_arrow(&self.offsets), buf_arrow(&self.data)])
        if pa.types.is_map(self.type):
            keys = (<Column>self.children[0]).finish()
            items = (<Column>self.children[1]).finish()
            entries = pa.StructArray.from_arrays(
                [keys, items], fields=[self.type.key_field, self.type.item_field])
            return pa.Array.from_buffers(
                self.type, self.length, [None, buf_arrow(&self.offsets)], children=[entries])
        if pa.types.is_list(self.type):
            values = (<Column>self.children[0]).finish()
            return pa.Array.from_buffers(
                self.type, self.length, [None, buf_arrow(&self.offsets)], children=[values])
        if pa.types.is_struct(self.type):
            arrays = [(<Column>c).finish() for c in self.children]
            return pa.StructArray.from_arrays(arrays, fields=list(self.type))
        width = self.type.bit_width // 8
        return pa.Array.from_buffers(
            self.type, self.data.len // width, [None, buf_arrow(&self.data)])


class RequestTooLarge(RequestError):
    """The decoded columns would pass Arrow's 2 GiB limit for one column."""

    def __init__(self):
        super().__init__(
            "the request expands to more than 2 GiB in one column (a large resource repeated"
            " on many records?); send smaller batches")


cdef inline Column child(Column c, int i):
    return <Column>c.children[i]


# ---------------------------------------------------------------- rendering values

cdef enum ValueKind:
    V_NONE = 0     # no value set: JSON null
    V_STR = 1
    V_BOOL = 2
    V_INT = 3
    V_DOUBLE = 4
    V_BYTES = 5
    V_COMPLEX = 6  # array or kvlist: rendered by the reference code
    V_NULL = 7     # string_value_strindex: the reference renders it as null


cdef struct AnyVal:
    ValueKind kind
    cptr ptr       # V_STR / V_BYTES: the bytes; V_COMPLEX: the whole AnyValue message
    cptr stop
    uint64_t bits  # V_BOOL / V_INT / V_DOUBLE


cdef int parse_anyvalue(cptr p, cptr end, int depth, AnyVal* out) except -1:
    """Reads an AnyValue; several oneof members (or one twice) decline the request."""
    cdef cptr start = p
    cdef uint32_t f
    cdef int wt
    cdef int seen = 0
    cdef cptr a
    cdef cptr b
    if depth > MAX_DEPTH:
        raise _FALLBACK
    out.kind = V_NONE
    while p < end:
        rd_tag(&p, end, &f, &wt)
        if f == 1 and wt == WT_LEN:
            rd_string(&p, end, &out.ptr, &out.stop)
            out.kind = V_STR
        elif f == 2 and wt == WT_VARINT:
            rd_varint(&p, end, &out.bits)
            out.kind = V_BOOL
        elif f == 3 and wt == WT_VARINT:
            rd_varint(&p, end, &out.bits)
            out.kind = V_INT
        elif f == 4 and wt == WT_I64:
            rd_fixed64(&p, end, &out.bits)
            out.kind = V_DOUBLE
        elif (f == 5 or f == 6) and wt == WT_LEN:
            rd_len(&p, end, &a, &b)
            validate_container(a, b, depth + 1, f == 6)
            out.kind = V_COMPLEX
        elif f == 7 and wt == WT_LEN:
            rd_len(&p, end, &out.ptr, &out.stop)
            out.kind = V_BYTES
        elif f == 8 and wt == WT_VARINT:
            rd_varint(&p, end, &out.bits)
            out.kind = V_NULL
        else:
            skip_field(&p, end, wt)
            continue
        seen += 1
    if seen > 1:
        raise _FALLBACK
    if out.kind == V_COMPLEX:
        out.ptr = start
        out.stop = end
    return 0


cdef int validate_container(cptr p, cptr end, int depth, bint kvlist) except -1:
    """ArrayValue (values: AnyValue) or KeyValueList (values: KeyValue)."""
    cdef uint32_t f
    cdef int wt
    cdef cptr a
    cdef cptr b
    if depth > MAX_DEPTH:
        raise _FALLBACK
    while p < end:
        rd_tag(&p, end, &f, &wt)
        if f == 1 and wt == WT_LEN:
            rd_len(&p, end, &a, &b)
            if kvlist:
                validate_keyvalue(a, b, depth + 1)
            else:
                validate_anyvalue(a, b, depth + 1)
        else:
            skip_field(&p, end, wt)
    return 0


cdef int validate_anyvalue(cptr p, cptr end, int depth) except -1:
    cdef AnyVal ignored
    parse_anyvalue(p, end, depth, &ignored)
    return 0


cdef int validate_keyvalue(cptr p, cptr end, int depth) except -1:
    cdef uint32_t f
    cdef int wt
    cdef cptr a
    cdef cptr b
    if depth > MAX_DEPTH:
        raise _FALLBACK
    while p < end:
        rd_tag(&p, end, &f, &wt)
        if f == 1 and wt == WT_LEN:
            rd_string(&p, end, &a, &b)
        elif f == 2 and wt == WT_LEN:
            rd_len(&p, end, &a, &b)
            validate_anyvalue(a, b, depth + 1)
        else:
            skip_field(&p, end, wt)
    return 0


cdef int validate_strings(cptr p, cptr end, uint32_t max_field) except -1:
    """A message whose length-delimited fields 1..max_field are all strings (EntityRef)."""
    cdef uint32_t f
    cdef int wt
    cdef cptr a
    cdef cptr b
    while p < end:
        rd_tag(&p, end, &f, &wt)
        if f <= max_field and wt == WT_LEN:
            rd_string(&p, end, &a, &b)
        else:
            skip_field(&p, end, wt)
    return 0


cdef int validate_scope(cptr p, cptr end, cptr* name, cptr* name_end, cptr* version,
                        cptr* version_end) except -1:
    """InstrumentationScope: name and version are read; attributes only checked."""
    cdef uint32_t f
    cdef int wt
    cdef cptr a
    cdef cptr b
    while p < end:
        rd_tag(&p, end, &f, &wt)
        if f == 1 and wt == WT_LEN:
            rd_string(&p, end, name, name_end)
        elif f == 2 and wt == WT_LEN:
            rd_string(&p, end, version, version_end)
        elif f == 3 and wt == WT_LEN:
            rd_len(&p, end, &a, &b)
            validate_keyvalue(a, b, 4)
        else:
            skip_field(&p, end, wt)
    return 0


cdef const char* B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


cdef int put_base64_json(Buf* out, cptr s, Py_ssize_t n) except -1:
    """'"' + base64 + '"': what json_text gives for bytes (base64 text, JSON-quoted)."""
    cdef Py_ssize_t i = 0
    cdef unsigned char q[4]
    cdef uint32_t v
    buf_u8(out, 34)
    while i + 3 <= n:
        v = (<uint32_t>s[i] << 16) | (<uint32_t>s[i + 1] << 8) | s[i + 2]
        q[0] = B64[(v >> 18) & 63]
        q[1] = B64[(v >> 12) & 63]
        q[2] = B64[(v >> 6) & 63]
        q[3] = B64[v & 63]
        buf_put(out, q, 4)
        i += 3
    if n - i == 1:
        v = <uint32_t>s[i] << 16
        q[0] = B64[(v >> 18) & 63]
        q[1] = B64[(v >> 12) & 63]
        q[2] = 61
        q[3] = 61
        buf_put(out, q, 4)
    elif n - i == 2:
        v = (<uint32_t>s[i] << 16) | (<uint32_t>s[i + 1] << 8)
        q[0] = B64[(v >> 18) & 63]
        q[1] = B64[(v >> 12) & 63]
        q[2] = B64[(v >> 6) & 63]
        q[3] = 61
        buf_put(out, q, 4)
    buf_u8(out, 34)
    return 0


cdef int put_int(Buf* out, int64_t v) except -1:
    cdef char tmp[24]
    cdef int i = 24
    cdef uint64_t u = <uint64_t>(-(v + 1)) + 1 if v < 0 else <uint64_t>v
    while True:
        i -= 1
        tmp[i] = <char>(48 + u % 10)
        u //= 10
        if u == 0:
            break
    if v < 0:
        i -= 1
        tmp[i] = 45
    return buf_put(out, tmp + i, 24 - i)


cdef int put_double_json(Buf* out, double v) except -1:
    """orjson's text for a float: repr(), but exponents without padding and 1e-5..1e-4 in
    plain decimals; NaN and infinities as json_text names them."""
    cdef char* s
    cdef Py_ssize_t n, e, k
    cdef int exp10
    cdef bint neg
    if isnan(v):
        return buf_put(out, b"NaN", 3)
    if isinf(v):
        if v > 0:
            return buf_put(out, b"Infinity", 8)
        return buf_put(out, b"-Infinity", 9)
    s = PyOS_double_to_string(v, b'r', 0, Py_DTSF_ADD_DOT_0, NULL)
    try:
        n = 0
        e = -1
        while s[n]:
            if s[n] == 101:  # 'e'
                e = n
            n += 1
        if e < 0:
            return buf_put(out, s, n)
        neg = s[e + 1] == 45
        exp10 = 0
        for k in range(e + 2, n):
            exp10 = exp10 * 10 + (s[k] - 48)
        if neg and exp10 == 5:
            k = 0
            if s[0] == 45:
                buf_u8(out, 45)
                k = 1
            buf_put(out, b"0.0000", 6)
            while k < e:
                if s[k] != 46:
                    buf_u8(out, <uint8_t>s[k])
                k += 1
            return 0
        buf_put(out, s, e + 2)  # mantissa, 'e', sign
        k = e + 2
        while k < n - 1 and s[k] == 48:
            k += 1
        return buf_put(out, s + k, n - k)
    finally:
        PyMem_Free(s)


cdef object _complex_text = None  # set by the module: AnyValue bytes -> reference text


cdef int render_value(AnyVal* v, Buf* scratch, cptr* text, Py_ssize_t* n,
                      Py_ssize_t* scratch_off) except -1:
    """Text of a value as any_value_text gives it. Strings point into the request; other
    values are rendered into ``scratch`` (``scratch_off`` says where, else -1)."""
    cdef bytes rendered
    if v.kind == V_STR:
        text[0] = v.ptr
        n[0] = v.stop - v.ptr
        scratch_off[0] = -1
        return 0
    scratch_off[0] = scratch.len
    if v.kind == V_BOOL:
        if v.bits:
            buf_put(scratch, b"true", 4)
        else:
            buf_put(scratch, b"false", 5)
    elif v.kind == V_INT:
        put_int(scratch, <int64_t>v.bits)
    elif v.kind == V_DOUBLE:
        put_double_json(scratch, as_double(v.bits))
    elif v.kind == V_BYTES:
        put_base64_json(scratch, v.ptr, v.stop - v.ptr)
    elif v.kind == V_COMPLEX:
        rendered = PyUnicode_AsUTF8String(
            _complex_text(PyBytes_FromStringAndSize(<const char*>v.ptr, v.stop - v.ptr)))
        buf_put(scratch, PyBytes_AS_STRING(rendered), PyBytes_GET_SIZE(rendered))
    else:
        buf_put(scratch, b"null", 4)
    text[0] = NULL
    n[0] = scratch.len - scratch_off[0]
    return 0


# ---------------------------------------------------------------- attribute sets

cdef struct Entry:
    cptr key
    Py_ssize_t klen
    cptr val           # into the request, or NULL: then at scratch + soff
    Py_ssize_t vlen
    Py_ssize_t soff
    bint typed


cdef int entry_cmp(const void* a, const void* b) noexcept nogil:
    cdef const Entry* x = <const Entry*>a
    cdef const Entry* y = <const Entry*>b
    cdef Py_ssize_t n = x.klen if x.klen < y.klen else y.klen
    cdef int c = memcmp(x.key, y.key, n)
    if c:
        return c
    return -1 if x.klen < y.klen else (1 if x.klen > y.klen else 0)


cdef class AttrSet:
    """The attributes of one item as ``common.attributes`` builds them: repeated keys keep
    the first position and the last value; limits checked as the reference does."""

    cdef Buf entries
    cdef Buf scratch
    cdef public Py_ssize_t count      # KeyValues seen (before de-duplication)
    cdef public Py_ssize_t n          # distinct keys
    cdef Py_ssize_t long_at           # index of the first over-long value, or -1
    cdef Py_ssize_t long_chars
    cdef object index                 # dict key bytes -> entry, past LINEAR_DEDUP
    cdef Py_ssize_t max_attributes
    cdef Py_ssize_t max_value
    cdef object _long_key

    def __cinit__(self, Py_ssize_t max_attributes, Py_ssize_t max_value):
        self.max_attributes = max_attributes
        self.max_value = max_value
        self.reset()

    def __dealloc__(self):
        buf_free(&self.entries)
        buf_free(&self.scratch)

    cdef inline void reset(self) noexcept:
        self.entries.len = 0
        self.scratch.len = 0
        self.count = 0
        self.n = 0
        self.long_at = -1
        self.index = None

    cdef inline Entry* at(self, Py_ssize_t i) noexcept:
        return (<Entry*>self.entries.data) + i

    cdef inline cptr value(self, Entry* e) noexcept:
        return e.val if e.val != NULL else self.scratch.data + e.soff

    cdef int add(self, cptr p, cptr end, int depth) except -1:
        """Adds one KeyValue message."""
        cdef uint32_t f
        cdef int wt
        cdef cptr key = <cptr>b""
        cdef cptr key_end = key
        cdef cptr a
        cdef cptr b
        cdef AnyVal v
        cdef bint has_value = False
        cdef Entry e
        cdef Py_ssize_t i, chars
        cdef Entry* old
        if depth > MAX_DEPTH:
            raise _FALLBACK
        v.kind = V_NONE
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 1 and wt == WT_LEN:
                rd_string(&p, end, &key, &key_end)
            elif f == 2 and wt == WT_LEN:
                if has_value:
                    raise _FALLBACK  # a merged AnyValue: left to the reference
                has_value = True
                rd_len(&p, end, &a, &b)
                parse_anyvalue(a, b, depth + 1, &v)
            else:
                skip_field(&p, end, wt)
        e.key = key
        e.klen = key_end - key
        e.typed = v.kind != V_STR
        render_value(&v, &self.scratch, &e.val, &e.vlen, &e.soff)
        if self.long_at < 0 and e.vlen > self.max_value:
            chars = utf8_chars(self.value(&e), e.vlen)
            if chars > self.max_value:
                self.long_at = self.count
                self.long_chars = chars
                self._long_key = py_text(key, e.klen)
        self.count += 1
        # Repeated keys: the first position keeps the last value.
        if self.index is None:
            for i in range(self.n):
                old = self.at(i)
                if old.klen == e.klen and memcmp(old.key, e.key, e.klen) == 0:
                    old.val, old.vlen, old.soff, old.typed = e.val, e.vlen, e.soff, e.typed
                    return 0
            buf_put(&self.entries, &e, sizeof(Entry))
            self.n += 1
            if self.n > LINEAR_DEDUP:
                self.index = {}
                for i in range(self.n):
                    old = self.at(i)
                    self.index[PyBytes_FromStringAndSize(<const char*>old.key, old.klen)] = i
            return 0
        kb = PyBytes_FromStringAndSize(<const char*>e.key, e.klen)
        found = self.index.get(kb)
        if found is not None:
            old = self.at(<Py_ssize_t>found)
            old.val, old.vlen, old.soff, old.typed = e.val, e.vlen, e.soff, e.typed
            return 0
        buf_put(&self.entries, &e, sizeof(Entry))
        self.index[kb] = self.n
        self.n += 1
        return 0

    cdef object problem(self, str what):
        """The reference's rejection message when over a limit, else None."""
        if self.count > self.max_attributes:
            return f"{self.count} {what}s, over the limit of {self.max_attributes}"
        if self.long_at >= 0:
            return (
                f"{what} {self._long_key[:100]!r} has a value of {self.long_chars} characters,"
                f" over the limit of {self.max_value}"
            )
        return None

    cdef void sort(self) noexcept:
        qsort(self.entries.data, self.n, sizeof(Entry), entry_cmp)

    cdef int emit(self, Column map_col, Column typed_col) except -1:
        """Appends the set as one map row and its typed keys as one list row."""
        cdef Column keys = child(map_col, 0)
        cdef Column values = child(map_col, 1)
        cdef Column typed_keys
        cdef Entry* e
        cdef Py_ssize_t i
        for i in range(self.n):
            e = self.at(i)
            keys.put_str(e.key, e.klen)
            values.put_str(self.value(e), e.vlen)
        map_col.end_list(keys.length)
        if typed_col is not None:
            typed_keys = child(typed_col, 0)
            for i in range(self.n):
                e = self.at(i)
                if e.typed:
                    typed_keys.put_str(e.key, e.klen)
            typed_col.end_list(typed_keys.length)
        return 0

    cdef list pairs(self):
        cdef list out = []
        cdef Entry* e
        cdef Py_ssize_t i
        for i in range(self.n):
            e = self.at(i)
            out.append((py_text(e.key, e.klen), py_text(self.value(e), e.vlen)))
        return out

    cdef list typed_keys(self):
        cdef list out = []
        cdef Entry* e
        cdef Py_ssize_t i
        for i in range(self.n):
            e = self.at(i)
            if e.typed:
                out.append(py_text(e.key, e.klen))
        return out


cdef class Frozen:
    """A resource's attributes, copied out of its AttrSet to be repeated on every row."""

    cdef Buf keys
    cdef Buf values
    cdef Buf lens       # (klen, vlen, typed) triples of Py_ssize_t
    cdef Py_ssize_t n
    cdef public Py_ssize_t size  # bytes of keys and values, repeated on each row

    def __dealloc__(self):
        buf_free(&self.keys)
        buf_free(&self.values)
        buf_free(&self.lens)

    cdef int load(self, AttrSet attrs) except -1:
        cdef Entry* e
        cdef Py_ssize_t i
        cdef Py_ssize_t triple[3]
        self.keys.len = self.values.len = self.lens.len = 0
        self.n = attrs.n
        for i in range(attrs.n):
            e = attrs.at(i)
            buf_put(&self.keys, e.key, e.klen)
            buf_put(&self.values, attrs.value(e), e.vlen)
            triple[0] = e.klen
            triple[1] = e.vlen
            triple[2] = e.typed
            buf_put(&self.lens, triple, sizeof(triple))
        self.size = self.keys.len + self.values.len
        return 0

    cdef int emit(self, Column map_col, Column typed_col) except -1:
        cdef Column keys = child(map_col, 0)
        cdef Column values = child(map_col, 1)
        cdef Column typed_keys = child(typed_col, 0)
        cdef Py_ssize_t* lens = <Py_ssize_t*>self.lens.data
        cdef Py_ssize_t i, ko = 0, vo = 0
        for i in range(self.n):
            keys.put_str(self.keys.data + ko, lens[3 * i])
            values.put_str(self.values.data + vo, lens[3 * i + 1])
            if lens[3 * i + 2]:
                typed_keys.put_str(self.keys.data + ko, lens[3 * i])
            ko += lens[3 * i]
            vo += lens[3 * i + 1]
        map_col.end_list(keys.length)
        typed_col.end_list(typed_keys.length)
        return 0
