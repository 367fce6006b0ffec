"""OTLP: decoders for logs, traces and metrics (protobuf and JSON), HTTP and gRPC handlers."""
