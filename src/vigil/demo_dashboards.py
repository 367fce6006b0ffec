"""The monitoring design's two dashboards, as CloudWatch dashboard bodies.

* ``DataPipeline-Platform``: Lambda duration (left axis) and errors (right axis), pipeline
  records processed and data-quality score, a system-health single value, and a "Recent
  Errors" Logs Insights widget.
* ``DataPipeline-Business``: revenue impact, cost per record with the total cost, data
  freshness.

The metric names are those ``vigil.sdk.metrics`` (``MetricsCollector``,
``BusinessMetricsTracker``) and the design's Lambda functions send; ``vigil demo`` feeds
them and creates both dashboards with ``put_dashboard``.
"""

from __future__ import annotations

import json
from typing import Any

NAMESPACE = "Application/DataPipeline"
# AWS/* namespaces are AWS's own (PutMetricData refuses them, in vigil as in CloudWatch), so
# the functions' duration and errors are published by the demo's handlers themselves.
LAMBDA_NAMESPACE = "Application/Lambda"
FUNCTION = "data-processor"
PIPELINE = "orders"
ERROR_LOG_GROUP = f"/aws/lambda/{FUNCTION}"


def platform(pipeline: str = PIPELINE, function: str = FUNCTION) -> dict[str, Any]:
    return {
        "start": "-PT3H",
        "periodOverride": "auto",
        "widgets": [
            {
                "type": "text",
                "x": 0,
                "y": 0,
                "width": 24,
                "height": 2,
                "properties": {
                    "markdown": "## Data pipeline — platform\nLambda, pipeline throughput and"
                    " data quality. Click a point of a graph for that minute's logs and traces."
                },
            },
            {
                "type": "metric",
                "x": 0,
                "y": 2,
                "width": 12,
                "height": 7,
                "properties": {
                    "title": "Lambda Duration and Errors",
                    "view": "timeSeries",
                    "region": "us-east-1",
                    "metrics": [
                        [
                            LAMBDA_NAMESPACE,
                            "Duration",
                            "FunctionName",
                            function,
                            {"stat": "Average", "label": "Duration"},
                        ],
                        [
                            ".",
                            "Errors",
                            ".",
                            ".",
                            {"stat": "Sum", "yAxis": "right", "label": "Errors"},
                        ],
                    ],
                    "period": 60,
                    "yAxis": {
                        "left": {"label": "Duration (ms)", "min": 0},
                        "right": {"label": "Errors", "min": 0},
                    },
                    "annotations": {"horizontal": [{"label": "Timeout budget", "value": 3000}]},
                },
            },
            {
                "type": "metric",
                "x": 12,
                "y": 2,
                "width": 12,
                "height": 7,
                "properties": {
                    "title": "Pipeline Records and Data Quality",
                    "view": "timeSeries",
                    "metrics": [
                        [
                            NAMESPACE,
                            "RecordsProcessed",
                            "Pipeline",
                            pipeline,
                            {"stat": "Sum", "label": "Records processed"},
                        ],
                        [
                            ".",
                            "DataQualityScore",
                            ".",
                            ".",
                            {"stat": "Average", "yAxis": "right", "label": "Data quality score"},
                        ],
                    ],
                    "period": 60,
                    "yAxis": {
                        "left": {"label": "Records"},
                        "right": {"label": "Score (%)", "min": 0, "max": 100},
                    },
                },
            },
            {
                "type": "metric",
                "x": 0,
                "y": 9,
                "width": 6,
                "height": 5,
                "properties": {
                    "title": "System Health",
                    "view": "singleValue",
                    "metrics": [
                        [
                            NAMESPACE,
                            "DataQualityScore",
                            "Pipeline",
                            pipeline,
                            {"stat": "Average", "label": "Health score"},
                        ]
                    ],
                    "unit": "%",
                    "sparkline": True,
                    "period": 300,
                },
            },
            {
                "type": "log",
                "x": 6,
                "y": 9,
                "width": 18,
                "height": 7,
                "properties": {
                    "title": "Recent Errors",
                    "view": "table",
                    "region": "us-east-1",
                    "query": f"SOURCE '{ERROR_LOG_GROUP}' | fields @timestamp, @message"
                    " | filter level = 'ERROR' | sort @timestamp desc | limit 20",
                },
            },
        ],
    }


def business(pipeline: str = PIPELINE) -> dict[str, Any]:
    return {
        "start": "-PT3H",
        "widgets": [
            {
                "type": "metric",
                "x": 0,
                "y": 0,
                "width": 12,
                "height": 7,
                "properties": {
                    "title": "Revenue Impact",
                    "view": "timeSeries",
                    "stacked": False,
                    "metrics": [
                        [
                            NAMESPACE,
                            "RevenueImpact",
                            "Pipeline",
                            pipeline,
                            {"stat": "Sum", "label": "Revenue impact"},
                        ]
                    ],
                    "period": 60,
                    "yAxis": {"left": {"label": "USD"}},
                },
            },
            {
                "type": "metric",
                "x": 12,
                "y": 0,
                "width": 12,
                "height": 7,
                "properties": {
                    "title": "Cost per Record",
                    "view": "timeSeries",
                    "metrics": [
                        [
                            NAMESPACE,
                            "CostPerRecord",
                            "Pipeline",
                            pipeline,
                            {"stat": "Average", "label": "Cost per record"},
                        ],
                        [
                            ".",
                            "ProcessingCost",
                            ".",
                            ".",
                            {"stat": "Sum", "yAxis": "right", "label": "Total cost"},
                        ],
                    ],
                    "period": 60,
                    "yAxis": {"left": {"label": "USD per record"}, "right": {"label": "USD"}},
                },
            },
            {
                "type": "metric",
                "x": 0,
                "y": 7,
                "width": 8,
                "height": 5,
                "properties": {
                    "title": "Data Freshness",
                    "view": "singleValue",
                    "metrics": [
                        [
                            NAMESPACE,
                            "DataFreshness",
                            "Pipeline",
                            pipeline,
                            {"stat": "Maximum", "label": "Minutes since last load"},
                        ]
                    ],
                    "unit": "min",
                    "period": 300,
                },
            },
        ],
    }


def bodies() -> dict[str, str]:
    """Dashboard name -> body text, as ``put_dashboard`` takes them."""
    return {
        "DataPipeline-Platform": json.dumps(platform()),
        "DataPipeline-Business": json.dumps(business()),
    }
