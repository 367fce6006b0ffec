"""Sampling rules the test apps use (no aws_xray_sdk import: importing it opens a socket)."""

# The design's sampling rule, as CreateSamplingRule takes it.
DATA_PIPELINE_RULE = {
    "RuleName": "data-pipeline",
    "Priority": 100,
    "FixedRate": 0.1,
    "ReservoirSize": 1,
    "ServiceName": "data-pipeline",
    "ServiceType": "*",
    "Host": "*",
    "HTTPMethod": "*",
    "URLPath": "*",
    "ResourceARN": "*",
    "Version": 1,
}
