"""The remote-write protobuf messages, declared here field by field.

Remote write 1.0 is ``prometheus.WriteRequest`` (prompb/remote.proto, types.proto) and
2.0 is ``io.prometheus.write.v2.Request`` (prompb/io/prometheus/write/v2/types.proto).
Neither ships in a PyPI package we can pin, and generating ``_pb2`` modules needs protoc
at build time; so the descriptors are built here with ``descriptor_pb2`` and the message
classes made by the installed protobuf runtime (upb, C) — the same parser the OTLP
reference decoders use. Field numbers and types follow the published .proto files; only
the fields vigil reads or tests send are declared (protobuf skips unknown fields, so a
sender's newer fields do not break decoding).

``WriteRequest`` / ``Request`` and friends are message classes; tests build requests with
them too.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_T = {
    "double": _F.TYPE_DOUBLE,
    "int64": _F.TYPE_INT64,
    "uint64": _F.TYPE_UINT64,
    "uint32": _F.TYPE_UINT32,
    "sint32": _F.TYPE_SINT32,
    "sint64": _F.TYPE_SINT64,
    "string": _F.TYPE_STRING,
    "enum": _F.TYPE_ENUM,
    "msg": _F.TYPE_MESSAGE,
}

# (name, number, type, repeated, type name for messages/enums, oneof index)
Field = tuple[str, int, str, bool, str, int | None]

_METRIC_TYPES = ["COUNTER", "GAUGE", "HISTOGRAM", "GAUGEHISTOGRAM", "SUMMARY", "INFO", "STATESET"]


def _histogram(pkg: str) -> list[Field]:
    # Identical in 1.0 and 2.0 (native histograms; custom_values for NHCB).
    return [
        ("count_int", 1, "uint64", False, "", 0),
        ("count_float", 2, "double", False, "", 0),
        ("sum", 3, "double", False, "", None),
        ("schema", 4, "sint32", False, "", None),
        ("zero_threshold", 5, "double", False, "", None),
        ("zero_count_int", 6, "uint64", False, "", 1),
        ("zero_count_float", 7, "double", False, "", 1),
        ("negative_spans", 8, "msg", True, f".{pkg}.BucketSpan", None),
        ("negative_deltas", 9, "sint64", True, "", None),
        ("negative_counts", 10, "double", True, "", None),
        ("positive_spans", 11, "msg", True, f".{pkg}.BucketSpan", None),
        ("positive_deltas", 12, "sint64", True, "", None),
        ("positive_counts", 13, "double", True, "", None),
        ("reset_hint", 14, "enum", False, f".{pkg}.Histogram.ResetHint", None),
        ("timestamp", 15, "int64", False, "", None),
        ("custom_values", 16, "double", True, "", None),
    ]


def _v1() -> descriptor_pb2.FileDescriptorProto:
    pkg = "prometheus"
    return _file(
        "vigil_prompb_v1.proto",
        pkg,
        {
            "WriteRequest": [
                ("timeseries", 1, "msg", True, f".{pkg}.TimeSeries", None),
                ("metadata", 3, "msg", True, f".{pkg}.MetricMetadata", None),
            ],
            "MetricMetadata": [
                ("type", 1, "enum", False, f".{pkg}.MetricMetadata.MetricType", None),
                ("metric_family_name", 2, "string", False, "", None),
                ("help", 4, "string", False, "", None),
                ("unit", 5, "string", False, "", None),
            ],
            "Sample": [
                ("value", 1, "double", False, "", None),
                ("timestamp", 2, "int64", False, "", None),
            ],
            "Exemplar": [
                ("labels", 1, "msg", True, f".{pkg}.Label", None),
                ("value", 2, "double", False, "", None),
                ("timestamp", 3, "int64", False, "", None),
            ],
            "Histogram": _histogram(pkg),
            "BucketSpan": [
                ("offset", 1, "sint32", False, "", None),
                ("length", 2, "uint32", False, "", None),
            ],
            "TimeSeries": [
                ("labels", 1, "msg", True, f".{pkg}.Label", None),
                ("samples", 2, "msg", True, f".{pkg}.Sample", None),
                ("exemplars", 3, "msg", True, f".{pkg}.Exemplar", None),
                ("histograms", 4, "msg", True, f".{pkg}.Histogram", None),
            ],
            "Label": [
                ("name", 1, "string", False, "", None),
                ("value", 2, "string", False, "", None),
            ],
        },
        enums={
            "MetricMetadata.MetricType": ["UNKNOWN", *_METRIC_TYPES],
            "Histogram.ResetHint": ["UNKNOWN", "YES", "NO", "GAUGE"],
        },
        oneofs={"Histogram": ["count", "zero_count"]},
    )


def _v2() -> descriptor_pb2.FileDescriptorProto:
    pkg = "io.prometheus.write.v2"
    return _file(
        "vigil_prompb_v2.proto",
        pkg,
        {
            "Request": [
                ("symbols", 4, "string", True, "", None),
                ("timeseries", 5, "msg", True, f".{pkg}.TimeSeries", None),
            ],
            "TimeSeries": [
                ("labels_refs", 1, "uint32", True, "", None),
                ("samples", 2, "msg", True, f".{pkg}.Sample", None),
                ("histograms", 3, "msg", True, f".{pkg}.Histogram", None),
                ("exemplars", 4, "msg", True, f".{pkg}.Exemplar", None),
                ("metadata", 5, "msg", False, f".{pkg}.Metadata", None),
                ("created_timestamp", 6, "int64", False, "", None),
            ],
            "Exemplar": [
                ("labels_refs", 1, "uint32", True, "", None),
                ("value", 2, "double", False, "", None),
                ("timestamp", 3, "int64", False, "", None),
            ],
            "Sample": [
                ("value", 1, "double", False, "", None),
                ("timestamp", 2, "int64", False, "", None),
            ],
            "Metadata": [
                ("type", 1, "enum", False, f".{pkg}.Metadata.MetricType", None),
                ("help_ref", 3, "uint32", False, "", None),
                ("unit_ref", 4, "uint32", False, "", None),
            ],
            "Histogram": _histogram(pkg),
            "BucketSpan": [
                ("offset", 1, "sint32", False, "", None),
                ("length", 2, "uint32", False, "", None),
            ],
        },
        enums={
            "Metadata.MetricType": [
                "METRIC_TYPE_UNSPECIFIED",
                *(f"METRIC_TYPE_{t}" for t in _METRIC_TYPES),
            ],
            "Histogram.ResetHint": [
                "RESET_HINT_UNSPECIFIED",
                "RESET_HINT_YES",
                "RESET_HINT_NO",
                "RESET_HINT_GAUGE",
            ],
        },
        oneofs={"Histogram": ["count", "zero_count"]},
    )


def _file(
    name: str,
    package: str,
    messages: dict[str, list[Field]],
    *,
    enums: dict[str, list[str]],
    oneofs: dict[str, list[str]],
) -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(name=name, package=package, syntax="proto3")
    for msg_name, fields in messages.items():
        msg = fd.message_type.add(name=msg_name)
        for oneof in oneofs.get(msg_name, []):
            msg.oneof_decl.add(name=oneof)
        for fname, number, ftype, repeated, type_name, oneof_index in fields:
            f = msg.field.add(
                name=fname,
                number=number,
                type=_T[ftype],
                label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL,
            )
            if type_name:
                f.type_name = type_name
            if oneof_index is not None:
                f.oneof_index = oneof_index
        for enum_path, values in enums.items():
            owner, enum_name = enum_path.split(".")
            if owner == msg_name:
                enum = msg.enum_type.add(name=enum_name)
                for number, value in enumerate(values):
                    enum.value.add(name=value, number=number)
    return fd


_pool = descriptor_pool.DescriptorPool()
_pool.Add(_v1())
_pool.Add(_v2())


def _cls(full_name: str) -> Any:
    return message_factory.GetMessageClass(_pool.FindMessageTypeByName(full_name))


WriteRequest: Any = _cls("prometheus.WriteRequest")
TimeSeries: Any = _cls("prometheus.TimeSeries")
Label: Any = _cls("prometheus.Label")
Sample: Any = _cls("prometheus.Sample")
MetricMetadata: Any = _cls("prometheus.MetricMetadata")
Histogram: Any = _cls("prometheus.Histogram")
BucketSpan: Any = _cls("prometheus.BucketSpan")

RequestV2: Any = _cls("io.prometheus.write.v2.Request")
TimeSeriesV2: Any = _cls("io.prometheus.write.v2.TimeSeries")
HistogramV2: Any = _cls("io.prometheus.write.v2.Histogram")

# Metric type enum values (the same numbers in 1.0 and 2.0) → Prometheus' type names.
TYPE_NAMES = [
    "unknown",
    "counter",
    "gauge",
    "histogram",
    "gaugehistogram",
    "summary",
    "info",
    "stateset",
]
