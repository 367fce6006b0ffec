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
from vigil.model.spans import SPAN_SCHEMA, SpanColumns

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



# ---------------------------------------------------------------- traces

cdef enum SpanCol:
    S_TENANT, S_TRACE, S_SPAN, S_PARENT, S_TRACE_STATE, S_NAME, S_KIND, S_SERVICE, S_START,
    S_END, S_STATUS_CODE, S_STATUS_MESSAGE, S_ATTRS, S_ATTRS_TYPED, S_RES, S_RES_TYPED,
    S_SCOPE_NAME, S_SCOPE_VERSION, S_EVENTS, S_LINKS


cdef struct Range:
    cptr start
    cptr stop


cdef class TracesDecoder:
    cdef Table out
    cdef Column c_tenant, c_trace, c_span, c_parent, c_trace_state, c_name, c_kind, c_service
    cdef Column c_start, c_end, c_status_code, c_status_message, c_attrs, c_attrs_typed
    cdef Column c_res, c_res_typed, c_scope_name, c_scope_version, c_events, c_links
    cdef Column e_struct, e_time, e_name, e_attrs, e_attrs_typed
    cdef Column k_struct, k_trace, k_span, k_state, k_attrs, k_attrs_typed
    cdef AttrSet res_attrs, attrs, sub_attrs
    cdef Frozen resource
    cdef Buf events, links
    cdef bytes tenant, service
    cdef int64_t now_ns
    cdef object rejected

    def __init__(self, str tenant, int64_t now_ns):
        self.out = Table(SPAN_SCHEMA)
        c = self.out.col
        self.c_tenant, self.c_trace, self.c_span = c(S_TENANT), c(S_TRACE), c(S_SPAN)
        self.c_parent, self.c_trace_state, self.c_name = c(S_PARENT), c(S_TRACE_STATE), c(S_NAME)
        self.c_kind, self.c_service, self.c_start = c(S_KIND), c(S_SERVICE), c(S_START)
        self.c_end, self.c_status_code = c(S_END), c(S_STATUS_CODE)
        self.c_status_message, self.c_attrs = c(S_STATUS_MESSAGE), c(S_ATTRS)
        self.c_attrs_typed, self.c_res, self.c_res_typed = c(S_ATTRS_TYPED), c(S_RES), c(S_RES_TYPED)
        self.c_scope_name, self.c_scope_version = c(S_SCOPE_NAME), c(S_SCOPE_VERSION)
        self.c_events, self.c_links = c(S_EVENTS), c(S_LINKS)
        self.e_struct = child(self.c_events, 0)
        self.e_time, self.e_name = child(self.e_struct, 0), child(self.e_struct, 1)
        self.e_attrs, self.e_attrs_typed = child(self.e_struct, 2), child(self.e_struct, 3)
        self.k_struct = child(self.c_links, 0)
        self.k_trace, self.k_span = child(self.k_struct, 0), child(self.k_struct, 1)
        self.k_state, self.k_attrs = child(self.k_struct, 2), child(self.k_struct, 3)
        self.k_attrs_typed = child(self.k_struct, 4)
        self.res_attrs = AttrSet(MAX_ATTRIBUTES, MAX_ATTRIBUTE_VALUE_BYTES)
        self.attrs = AttrSet(MAX_ATTRIBUTES, MAX_ATTRIBUTE_VALUE_BYTES)
        self.sub_attrs = AttrSet(MAX_ATTRIBUTES, MAX_ATTRIBUTE_VALUE_BYTES)
        self.resource = Frozen()
        self.tenant = tenant.encode()
        self.now_ns = now_ns
        self.rejected = Rejections()

    def __dealloc__(self):
        buf_free(&self.events)
        buf_free(&self.links)

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
                self.resource_spans(a, b)
            else:
                skip_field(&p, end, wt)
        return Decoded(
            signal="traces", spans=SpanColumns(arrow=self.out.finish()), rejected=self.rejected
        )

    cdef int resource_spans(self, cptr p, cptr end) except -1:
        cdef cptr start = p
        cdef uint32_t f
        cdef int wt
        cdef cptr a
        cdef cptr b
        cdef cptr res = NULL
        cdef cptr res_end = NULL
        cdef Py_ssize_t spans = 0
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 1 and wt == WT_LEN:
                if res != NULL:
                    raise _FALLBACK
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
            self.service = dict(self.res_attrs.pairs()).get("service.name", "").encode()
            self.resource.load(self.res_attrs)
        p = start
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 2 and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                spans += self.scope_spans(a, b, problem is None)
            else:
                skip_field(&p, end, wt)
        if problem is not None:
            self.rejected.add(problem, spans)
        return 0

    cdef Py_ssize_t scope_spans(self, cptr p, cptr end, bint emit) except -1:
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
        cdef Py_ssize_t spans = 0
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 1 and wt == WT_LEN:
                if scope != NULL:
                    raise _FALLBACK
                rd_len(&p, end, &scope, &scope_end)
            elif f == 2 and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                spans += 1
                if not emit:
                    self.span(a, b, False)
            elif f == 3 and wt == WT_LEN:
                rd_string(&p, end, &a, &b)
            else:
                skip_field(&p, end, wt)
        if scope != NULL:
            validate_scope(scope, scope_end, &name, &name_end, &version, &version_end)
        if not emit:
            return spans
        p = start
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 2 and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                if self.span(a, b, True):
                    self.c_scope_name.put_str(name, name_end - name)
                    self.c_scope_version.put_str(version, version_end - version)
            else:
                skip_field(&p, end, wt)
        return spans

    cdef int span(self, cptr p, cptr end, bint emit) except -1:
        cdef uint32_t f
        cdef int wt
        cdef cptr a
        cdef cptr b
        cdef cptr empty = <cptr>b""
        cdef cptr trace = empty
        cdef cptr trace_end = empty
        cdef cptr span_id = empty
        cdef cptr span_end = empty
        cdef cptr parent = empty
        cdef cptr parent_end = empty
        cdef cptr state = empty
        cdef cptr state_end = empty
        cdef cptr name = empty
        cdef cptr name_end = empty
        cdef cptr status = NULL
        cdef cptr status_end = NULL
        cdef cptr message = empty
        cdef cptr message_end = empty
        cdef uint64_t start = 0, stop = 0, v
        cdef int32_t kind = 0, code = 0
        cdef Range r
        cdef Py_ssize_t i
        cdef int64_t limit = future_limit(self.now_ns)
        cdef object problem = None
        cdef object sub_problem
        self.attrs.reset()
        self.events.len = 0
        self.links.len = 0
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 1 and wt == WT_LEN:
                rd_len(&p, end, &trace, &trace_end)
            elif f == 2 and wt == WT_LEN:
                rd_len(&p, end, &span_id, &span_end)
            elif f == 3 and wt == WT_LEN:
                rd_string(&p, end, &state, &state_end)
            elif f == 4 and wt == WT_LEN:
                rd_len(&p, end, &parent, &parent_end)
            elif f == 5 and wt == WT_LEN:
                rd_string(&p, end, &name, &name_end)
            elif f == 6 and wt == WT_VARINT:
                rd_varint(&p, end, &v)
                kind = <int32_t><uint32_t>(v & 0xFFFFFFFF)
            elif f == 7 and wt == WT_I64:
                rd_fixed64(&p, end, &start)
            elif f == 8 and wt == WT_I64:
                rd_fixed64(&p, end, &stop)
            elif f == 9 and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                self.attrs.add(a, b, 5)
            elif f == 11 and wt == WT_LEN:
                rd_len(&p, end, &r.start, &r.stop)
                buf_put(&self.events, &r, sizeof(Range))
            elif f == 13 and wt == WT_LEN:
                rd_len(&p, end, &r.start, &r.stop)
                buf_put(&self.links, &r, sizeof(Range))
            elif f == 15 and wt == WT_LEN:
                if status != NULL:
                    raise _FALLBACK
                rd_len(&p, end, &status, &status_end)
            else:
                skip_field(&p, end, wt)
        if status != NULL:
            read_status(status, status_end, &message, &message_end, &code)
        # Events and links are read (and so checked) whatever becomes of the span; their
        # first problems are kept for the order of the reference's checks.
        event_problem = link_problem = None
        for i in range(self.events.len // sizeof(Range)):
            r = (<Range*>self.events.data)[i]
            sub_problem = self.event(r.start, r.stop, False, limit)
            if event_problem is None:
                event_problem = sub_problem
        for i in range(self.links.len // sizeof(Range)):
            r = (<Range*>self.links.data)[i]
            sub_problem = self.link(r.start, r.stop, False)
            if link_problem is None:
                link_problem = sub_problem
        if not emit:
            return 0
        problem = id_problem(trace_end - trace, 16, "trace_id", True, trace)
        if problem is None:
            problem = id_problem(span_end - span_id, 8, "span_id", True, span_id)
        if problem is None:
            problem = id_problem(parent_end - parent, 8, "parent_span_id", False, parent)
        if problem is None:
            if start == 0:
                problem = "span start_time_unix_nano is 0"
            elif start > <uint64_t>limit:
                problem = f"span start_time_unix_nano {start} is more than 2 hours in the future"
            elif stop < start:
                problem = f"span end_time_unix_nano {stop} is before its start {start}"
            elif stop > <uint64_t>limit:
                problem = f"span end_time_unix_nano {stop} is more than 2 hours in the future"
            elif kind < 0 or kind > 5:
                problem = f"span kind {kind} is not in 0..5"
            elif code < 0 or code > 2:
                problem = f"span status code {code} is not in 0..2"
        if problem is None:
            problem = self.attrs.problem("attribute")
        if problem is None:
            problem = event_problem
        if problem is None:
            problem = link_problem
        if problem is not None:
            self.rejected.add(problem)
            return 0
        self.c_tenant.put_str(PyBytes_AS_STRING(self.tenant), PyBytes_GET_SIZE(self.tenant))
        buf_put(&self.c_trace.data, trace, 16)
        buf_put(&self.c_span.data, span_id, 8)
        if parent_end == parent:
            buf_zeros(&self.c_parent.data, 8)
        else:
            buf_put(&self.c_parent.data, parent, 8)
        self.c_trace_state.put_str(state, state_end - state)
        self.c_name.put_str(name, name_end - name)
        buf_u8(&self.c_kind.data, <uint8_t>kind)
        self.c_service.put_str(PyBytes_AS_STRING(self.service), PyBytes_GET_SIZE(self.service))
        buf_u64(&self.c_start.data, start)
        buf_u64(&self.c_end.data, stop)
        buf_u8(&self.c_status_code.data, <uint8_t>code)
        self.c_status_message.put_str(message, message_end - message)
        self.attrs.emit(self.c_attrs, self.c_attrs_typed)
        self.resource.emit(self.c_res, self.c_res_typed)
        for i in range(self.events.len // sizeof(Range)):
            r = (<Range*>self.events.data)[i]
            self.event(r.start, r.stop, True, limit)
        self.c_events.end_list(self.e_name.length)
        for i in range(self.links.len // sizeof(Range)):
            r = (<Range*>self.links.data)[i]
            self.link(r.start, r.stop, True)
        self.c_links.end_list(self.k_state.length)
        return 1

    cdef object event(self, cptr p, cptr end, bint emit, int64_t limit):
        """Reads a Span.Event: with emit appends it, else returns its problem (or None)."""
        cdef uint32_t f
        cdef int wt
        cdef cptr a
        cdef cptr b
        cdef cptr name = <cptr>b""
        cdef cptr name_end = name
        cdef uint64_t time = 0
        self.sub_attrs.reset()
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 1 and wt == WT_I64:
                rd_fixed64(&p, end, &time)
            elif f == 2 and wt == WT_LEN:
                rd_string(&p, end, &name, &name_end)
            elif f == 3 and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                self.sub_attrs.add(a, b, 6)
            else:
                skip_field(&p, end, wt)
        if emit:
            buf_u64(&self.e_time.data, time)
            self.e_name.put_str(name, name_end - name)
            self.sub_attrs.emit(self.e_attrs, self.e_attrs_typed)
            return None
        if time > <uint64_t>limit:
            return f"span event time_unix_nano {time} is more than 2 hours in the future"
        return self.sub_attrs.problem("event attribute")

    cdef object link(self, cptr p, cptr end, bint emit):
        """Reads a Span.Link: with emit appends it, else returns its problem (or None)."""
        cdef uint32_t f
        cdef int wt
        cdef cptr a
        cdef cptr b
        cdef cptr empty = <cptr>b""
        cdef cptr trace = empty
        cdef cptr trace_end = empty
        cdef cptr span_id = empty
        cdef cptr span_end = empty
        cdef cptr state = empty
        cdef cptr state_end = empty
        self.sub_attrs.reset()
        while p < end:
            rd_tag(&p, end, &f, &wt)
            if f == 1 and wt == WT_LEN:
                rd_len(&p, end, &trace, &trace_end)
            elif f == 2 and wt == WT_LEN:
                rd_len(&p, end, &span_id, &span_end)
            elif f == 3 and wt == WT_LEN:
                rd_string(&p, end, &state, &state_end)
            elif f == 4 and wt == WT_LEN:
                rd_len(&p, end, &a, &b)
                self.sub_attrs.add(a, b, 6)
            else:
                skip_field(&p, end, wt)
        if emit:
            buf_put(&self.k_trace.data, trace, 16)
            buf_put(&self.k_span.data, span_id, 8)
            self.k_state.put_str(state, state_end - state)
            self.sub_attrs.emit(self.k_attrs, self.k_attrs_typed)
            return None
        problem = self.sub_attrs.problem("link attribute")
        if problem is None:
            problem = id_problem(trace_end - trace, 16, "link trace_id", True, trace)
        if problem is None:
            problem = id_problem(span_end - span_id, 8, "link span_id", True, span_id)
        return problem


cdef int read_status(cptr p, cptr end, cptr* message, cptr* message_end, int32_t* code) except -1:
    cdef uint32_t f
    cdef int wt
    cdef uint64_t v
    while p < end:
        rd_tag(&p, end, &f, &wt)
        if f == 2 and wt == WT_LEN:
            rd_string(&p, end, message, message_end)
        elif f == 3 and wt == WT_VARINT:
            rd_varint(&p, end, &v)
            code[0] = <int32_t><uint32_t>(v & 0xFFFFFFFF)
        else:
            skip_field(&p, end, wt)
    return 0


def decode_traces(bytes body, str tenant, int64_t now_ns):
    """ExportTraceServiceRequest bytes -> Decoded, or None to let the reference decode."""
    try:
        return TracesDecoder(tenant, now_ns).run(body)
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
