# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Native OTLP protobuf decoders: request bytes -> Arrow tables in the model schemas.

See ``vigil.ingest.otlp.native`` for the contract. Each ``decode_*`` returns a ``Decoded``
equal to what the reference decoder gives for the same bytes, or None when it declines the
request (then the caller runs the reference decoder, which also gives the 400 answers).
"""

import sys

import pyarrow as pa

from vigil.ingest.interface import Decoded, Rejections, RequestError
from vigil.ingest.otlp.common import complex_value_text
from vigil.ingest.otlp.logs import log_group_and_stream
from vigil.model.common import MAX_ATTRIBUTE_VALUE_BYTES, MAX_ATTRIBUTES, MAX_BODY_BYTES, MAX_FUTURE_NS
from vigil.model.logs import LOG_SCHEMA, LogColumns

include "_wire_core.pxi"

if sys.byteorder != "little":  # pragma: no cover - the buffers are written in host order
    raise ImportError("the native OTLP decoders need a little-endian machine")

_complex_text = complex_value_text


cdef inline int64_t future_limit(int64_t now_ns):
    return now_ns + <int64_t>MAX_FUTURE_NS


cdef str id_problem(Py_ssize_t n, Py_ssize_t size, str field, bint required, cptr raw):
    """check_id's message for a bad id, or None."""
    cdef Py_ssize_t i
    if n == size:
        if required:
            for i in range(n):
                if raw[i]:
                    return None
            return f"{field} is all zeros"
        return None
    if n == 0 and not required:
        return None
    return f"{field} must be {size} bytes, got {n}"


cdef class Table:
    """Columns in the order of a model schema."""

    cdef public list columns
    cdef object schema

    def __init__(self, schema):
        self.schema = schema
        self.columns = [Column(field.type) for field in schema]

    cdef Column col(self, int i):
        return <Column>self.columns[i]

    cdef object finish(self):
        return pa.Table.from_arrays(
            [(<Column>c).finish() for c in self.columns], schema=self.schema)


# ---------------------------------------------------------------- logs

cdef enum LogCol:
    L_TENANT, L_GROUP, L_STREAM, L_TS, L_OBSERVED, L_SEVERITY, L_SEVERITY_TEXT, L_BODY,
    L_ATTRS, L_ATTRS_TYPED, L_RES, L_RES_TYPED, L_SCOPE_NAME, L_SCOPE_VERSION, L_TRACE,
    L_SPAN, L_FLAGS, L_SERVICE


cdef class LogsDecoder:
    cdef Table out
    cdef Column c_tenant, c_group, c_stream, c_ts, c_observed, c_severity, c_severity_text
    cdef Column c_body, c_attrs, c_attrs_typed, c_res, c_res_typed, c_scope_name
    cdef Column c_scope_version, c_trace, c_span, c_flags, c_service
    cdef AttrSet res_attrs, attrs
    cdef Frozen resource
    cdef Buf body_scratch
    cdef bytes tenant, group, stream, service
    cdef int64_t now_ns
    cdef object rejected
    cdef set log_streams
    cdef object tenant_str

    def __init__(self, str tenant, int64_t now_ns):
        self.out = Table(LOG_SCHEMA)
        c = self.out.col
        self.c_tenant, self.c_group, self.c_stream = c(L_TENANT), c(L_GROUP), c(L_STREAM)
        self.c_ts, self.c_observed, self.c_severity = c(L_TS), c(L_OBSERVED), c(L_SEVERITY)
        self.c_severity_text, self.c_body = c(L_SEVERITY_TEXT), c(L_BODY)
        self.c_attrs, self.c_attrs_typed = c(L_ATTRS), c(L_ATTRS_TYPED)
        self.c_res, self.c_res_typed = c(L_RES), c(L_RES_TYPED)
        self.c_scope_name, self.c_scope_version = c(L_SCOPE_NAME), c(L_SCOPE_VERSION)
        self.c_trace, self.c_span, self.c_flags = c(L_TRACE), c(L_SPAN), c(L_FLAGS)
        self.c_service = c(L_SERVICE)
        self.res_attrs = AttrSet(MAX_ATTRIBUTES, MAX_ATTRIBUTE_VALUE_BYTES)
        self.attrs = AttrSet(MAX_ATTRIBUTES, MAX_ATTRIBUTE_VALUE_BYTES)
        self.resource = Frozen()
        self.tenant_str = tenant
        self.tenant = tenant.encode()
        self.now_ns = now_ns
        self.rejected = Rejections()
        self.log_streams = set()

    def __dealloc__(self):
        buf_free(&self.body_scratch)

    cdef object run(self, bytes body):
        cdef cptr p = <cptr>PyBytes_AS_STRING(body)
        cdef cptr end = p + PyBytes_GET_SIZE(body)
        cdef uint32_t f
        cdef int wt
        cdef cptr a
        cdef cptr b
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 1 and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                self.resource_logs(a, b)
            else:
                skip_field(&p, end, wt)
        return Decoded(
            signal="logs",
            logs=LogColumns(arrow=self.out.finish()),
            log_streams=self.log_streams,
            rejected=self.rejected,
        )

    cdef int resource_logs(self, cptr p, cptr end) except -1:
        cdef cptr start = p
        cdef uint32_t f
        cdef int wt
        cdef cptr a
        cdef cptr b
        cdef cptr res = NULL
        cdef cptr res_end = NULL
        cdef Py_ssize_t records = 0
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 1 and wt == WT_LEN:
                if res != NULL:
                    raise _FALLBACK  # a merged Resource
                rd_len(&p, end, &res, &res_end)
            elif f == 3 and wt == WT_LEN:
                rd_string(&p, end, &a, &b)
            else:
                skip_field(&p, end, wt)
        self.res_attrs.reset()
        if res != NULL:
            read_resource(res, res_end, self.res_attrs)
        problem = self.res_attrs.problem("resource attribute")
        if problem is None:
            pairs = self.res_attrs.pairs()
            group, stream = log_group_and_stream(dict(pairs), self.res_attrs.typed_keys())
            service = dict(pairs).get("service.name", "")
            self.log_streams.add((self.tenant_str, group, stream))
            self.group, self.stream = group.encode(), stream.encode()
            self.service = service.encode()
            self.resource.load(self.res_attrs)
        p = start
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 2 and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                records += self.scope_logs(a, b, problem is None)
            else:
                skip_field(&p, end, wt)
        if problem is not None:
            self.rejected.add(problem, records)
        return 0

    cdef Py_ssize_t scope_logs(self, cptr p, cptr end, bint emit) except -1:
        """Decodes the scope's records (emit), or only checks and counts them."""
        cdef cptr start = p
        cdef uint32_t f
        cdef int wt
        cdef cptr a
        cdef cptr b
        cdef cptr scope = NULL
        cdef cptr scope_end = NULL
        cdef cptr name = <cptr>b""
        cdef cptr name_end = name
        cdef cptr version = name
        cdef cptr version_end = name
        cdef Py_ssize_t records = 0
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 1 and wt == WT_LEN:
                if scope != NULL:
                    raise _FALLBACK
                rd_len(&p, end, &scope, &scope_end)
            elif f == 2 and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                records += 1
                if not emit:
                    self.record(a, b, False)
            elif f == 3 and wt == WT_LEN:
                rd_string(&p, end, &a, &b)
            else:
                skip_field(&p, end, wt)
        if scope != NULL:
            validate_scope(scope, scope_end, &name, &name_end, &version, &version_end)
        if not emit:
            return records
        p = start
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 2 and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                if self.record(a, b, True):
                    self.c_scope_name.put_str(name, name_end - name)
                    self.c_scope_version.put_str(version, version_end - version)
            else:
                skip_field(&p, end, wt)
        return records

    cdef int record(self, cptr p, cptr end, bint emit) except -1:
        """Decodes one LogRecord; with emit, appends its row (all but the scope columns)
        and returns 1, or counts its rejection and returns 0."""
        cdef uint32_t f
        cdef int wt
        cdef cptr a
        cdef cptr b
        cdef uint64_t ts = 0, observed = 0, v
        cdef int32_t severity = 0
        cdef uint32_t flags = 0
        cdef cptr sev_text = <cptr>b""
        cdef cptr sev_text_end = sev_text
        cdef cptr trace = sev_text
        cdef cptr trace_end = sev_text
        cdef cptr span = sev_text
        cdef cptr span_end = sev_text
        cdef AnyVal body
        cdef bint has_body = False
        cdef cptr text
        cdef Py_ssize_t text_len, soff, chars
        cdef int64_t limit = future_limit(self.now_ns)
        body.kind = V_NONE
        self.attrs.reset()
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 1 and wt == WT_I64:
                rd_fixed64(&p, end, &ts)
            elif f == 11 and wt == WT_I64:
                rd_fixed64(&p, end, &observed)
            elif f == 2 and wt == WT_VARINT:
                rd_varint(&p, end, &v)
                severity = <int32_t><uint32_t>(v & 0xFFFFFFFF)
            elif f == 3 and wt == WT_LEN:
                rd_string(&p, end, &sev_text, &sev_text_end)
            elif f == 5 and wt == WT_LEN:
                if has_body:
                    raise _FALLBACK
                has_body = True
                rd_len(&p, end, &a, &b)
                parse_anyvalue(a, b, 5, &body)
            elif f == 6 and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                self.attrs.add(a, b, 5)
            elif f == 8 and wt == WT_I32:
                rd_fixed32(&p, end, &flags)
            elif f == 9 and wt == WT_LEN:
                rd_len(&p, end, &trace, &trace_end)
            elif f == 10 and wt == WT_LEN:
                rd_len(&p, end, &span, &span_end)
            elif f == 12 and wt == WT_LEN:
                rd_string(&p, end, &a, &b)
            else:
                skip_field(&p, end, wt)
        if not emit:
            return 0
        if ts == 0:
            ts = observed if observed else <uint64_t>self.now_ns
        if ts > <uint64_t>limit:
            return self.reject(f"log record time_unix_nano {ts} is more than 2 hours in the future")
        if observed > <uint64_t>limit:
            return self.reject(
                f"log record observed_time_unix_nano {observed} is more than 2 hours in the future")
        if severity < 0 or severity > 24:
            return self.reject(f"severity_number {severity} is not in 0..24")
        problem = id_problem(trace_end - trace, 16, "trace_id", False, trace)
        if problem is None:
            problem = id_problem(span_end - span, 8, "span_id", False, span)
        if problem is not None:
            return self.reject(problem)
        self.body_scratch.len = 0
        if has_body:
            render_value(&body, &self.body_scratch, &text, &text_len, &soff)
            if soff >= 0:
                text = self.body_scratch.data + soff
        else:
            text = sev_text
            text_len = 0
        if text_len > MAX_BODY_BYTES:
            chars = utf8_chars(text, text_len)
            if chars > MAX_BODY_BYTES:
                return self.reject(
                    f"log body of {chars} characters is over the limit of {MAX_BODY_BYTES}")
        problem = self.attrs.problem("attribute")
        if problem is not None:
            return self.reject(problem)
        # The row.
        self.c_tenant.put_str(PyBytes_AS_STRING(self.tenant), PyBytes_GET_SIZE(self.tenant))
        self.c_group.put_str(PyBytes_AS_STRING(self.group), PyBytes_GET_SIZE(self.group))
        self.c_stream.put_str(PyBytes_AS_STRING(self.stream), PyBytes_GET_SIZE(self.stream))
        buf_u64(&self.c_ts.data, ts)
        buf_u64(&self.c_observed.data, observed)
        buf_u8(&self.c_severity.data, <uint8_t>severity)
        self.c_severity_text.put_str(sev_text, sev_text_end - sev_text)
        self.c_body.put_str(text, text_len)
        self.attrs.emit(self.c_attrs, self.c_attrs_typed)
        self.resource.emit(self.c_res, self.c_res_typed)
        if trace_end == trace:
            buf_zeros(&self.c_trace.data, 16)
        else:
            buf_put(&self.c_trace.data, trace, 16)
        if span_end == span:
            buf_zeros(&self.c_span.data, 8)
        else:
            buf_put(&self.c_span.data, span, 8)
        buf_u32(&self.c_flags.data, flags)
        self.c_service.put_str(PyBytes_AS_STRING(self.service), PyBytes_GET_SIZE(self.service))
        return 1

    cdef int reject(self, str message) except -1:
        self.rejected.add(message)
        return 0


cdef int read_resource(cptr p, cptr end, AttrSet attrs) except -1:
    """Resource: attributes into ``attrs``; entity refs only checked."""
    cdef uint32_t f
    cdef int wt
    cdef cptr a
    cdef cptr b
    while p < end:
        rd_tag(&p, end, &f, &wt)
        if f == 1 and wt == WT_LEN:
            rd_len(&p, end, &a, &b)
            attrs.add(a, b, 4)
        elif f == 3 and wt == WT_LEN:
            rd_len(&p, end, &a, &b)
            validate_strings(a, b, 4)
        else:
            skip_field(&p, end, wt)
    return 0


def decode_logs(bytes body, str tenant, int64_t now_ns):
    """ExportLogsServiceRequest bytes -> Decoded, or None to let the reference decode."""
    try:
        return LogsDecoder(tenant, now_ns).run(body)
    except Fallback:
        return None


def double_text(double value):
    """The text the decoders store for a double (exposed for tests)."""
    cdef Buf out
    out.data = NULL
    out.len = out.cap = 0
    try:
        put_double_json(&out, value)
        return py_text(out.data, out.len)
    finally:
        buf_free(&out)
