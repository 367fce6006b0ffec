"""The monitoring design's alarm code as a user writes it (boto3, endpoint changed):
an anomaly detector, an anomaly alarm with ANOMALY_DETECTION_FUNCTION and
LessThanLowerOrGreaterThanUpperThreshold, threshold alarms and a system-health composite;
a spike in ProcessedRecords drives the anomaly alarm and the composite to ALARM and back
to OK. Then a restart: definitions, states and history survive, nothing is re-announced.
Injected clock; the test drives the evaluation rounds."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.alarm_runtime import Clock, running

T0 = 1_796_637_600  # 2026-12-07 10:00:00 UTC
SNS = "arn:aws:sns:us-east-1:000000000000:data-pipeline-alerts"


class SmartAlerting:
    """Written as an application would (the design's alerting helper, in its spirit)."""

    def __init__(self, cloudwatch: Any, namespace: str) -> None:
        self.cloudwatch = cloudwatch
        self.namespace = namespace

    def create_anomaly_alarm(self, metric_name: str) -> None:
        self.cloudwatch.put_anomaly_detector(
            Namespace=self.namespace, MetricName=metric_name, Stat="Average"
        )
        self.cloudwatch.put_metric_alarm(
            AlarmName=f"{metric_name}-Anomaly",
            ComparisonOperator="LessThanLowerOrGreaterThanUpperThreshold",
            EvaluationPeriods=2,
            DatapointsToAlarm=1,
            Metrics=[
                {
                    "Id": "m1",
                    "ReturnData": True,
                    "MetricStat": {
                        "Metric": {"Namespace": self.namespace, "MetricName": metric_name},
                        "Period": 300,
                        "Stat": "Average",
                    },
                },
                {
                    "Id": "ad1",
                    "Expression": "ANOMALY_DETECTION_FUNCTION(m1, 2)",
                    "Label": f"{metric_name} (expected)",
                    "ReturnData": True,
                },
            ],
            ThresholdMetricId="ad1",
            AlarmDescription=f"Anomaly detected in {metric_name}",
            AlarmActions=[SNS],
            OKActions=[SNS],
        )

    def create_threshold_alarm(self, name: str, metric: str, threshold: float) -> None:
        self.cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace=self.namespace,
            MetricName=metric,
            Statistic="Average",
            Period=300,
            EvaluationPeriods=1,
            Threshold=threshold,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
            AlarmActions=[SNS],
        )

    def create_composite_alarm(self) -> None:
        self.cloudwatch.put_composite_alarm(
            AlarmName="SystemHealth",
            AlarmRule=(
                "ALARM('HighErrorRate') OR ALARM('HighLatency') OR"
                " ALARM('ProcessedRecords-Anomaly')"
            ),
            AlarmActions=[SNS],
            OKActions=[SNS],
            AlarmDescription="Overall system health",
        )


def _history(cw: Any, namespace: str, start: int, end: int) -> None:
    rng = random.Random(3)
    data = []
    for t in range(start, end, 300):
        hour = (t % 86400) / 3600
        value = 1000 + 300 * math.sin(2 * math.pi * hour / 24) + rng.gauss(0, 20)
        data.append(
            {
                "MetricName": "ProcessedRecords",
                "Timestamp": datetime.fromtimestamp(t + 1, UTC),
                "Value": value,
            }
        )
    for i in range(0, len(data), 500):
        cw.put_metric_data(Namespace=namespace, MetricData=data[i : i + 500])


def _state(cw: Any, name: str, composite: bool = False) -> str:
    found = cw.describe_alarms(
        AlarmNames=[name], AlarmTypes=["CompositeAlarm" if composite else "MetricAlarm"]
    )
    [alarm] = found["CompositeAlarms" if composite else "MetricAlarms"]
    return str(alarm["StateValue"])


def test_smart_alerting_spike_and_restart(tmp_path: Path) -> None:
    namespace = "DataPipeline"
    clock = Clock(T0)
    with running(tmp_path / "data", clock) as vigil:
        cw = vigil.client()
        _history(cw, namespace, T0 - 3 * 86400, T0 + 600)
        alerting = SmartAlerting(cw, namespace)
        alerting.create_anomaly_alarm("ProcessedRecords")
        alerting.create_threshold_alarm("HighErrorRate", "ErrorRate", 5.0)
        alerting.create_threshold_alarm("HighLatency", "Latency", 2000.0)
        alerting.create_composite_alarm()
        vigil.tick(T0 + 600)
        assert _state(cw, "ProcessedRecords-Anomaly") == "OK"
        assert _state(cw, "HighErrorRate") == "OK"
        assert _state(cw, "SystemHealth", composite=True) == "OK"
        # the spike: ten times the usual volume in the 10:10 period
        cw.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": "ProcessedRecords",
                    "Timestamp": datetime.fromtimestamp(T0 + 610, UTC),
                    "Value": 12_000.0,
                }
            ],
        )
        vigil.tick(T0 + 900)
        assert _state(cw, "ProcessedRecords-Anomaly") == "ALARM"
        assert _state(cw, "SystemHealth", composite=True) == "ALARM"
        reason = cw.describe_alarms(AlarmNames=["ProcessedRecords-Anomaly"])["MetricAlarms"][0][
            "StateReason"
        ]
        assert reason.startswith("Thresholds Crossed: 1 out of the last 2 datapoints [12000.0")
        # it passes: normal data again, and after two normal periods both are OK
        _history(cw, namespace, T0 + 900, T0 + 1500)
        vigil.tick(T0 + 1200)
        assert _state(cw, "ProcessedRecords-Anomaly") == "ALARM"  # the spike is still in range
        vigil.tick(T0 + 1500)
        assert _state(cw, "ProcessedRecords-Anomaly") == "OK"
        assert _state(cw, "SystemHealth", composite=True) == "OK"
        announced = [(e.alarm_name, e.new_state) for e in vigil.events if e.actions]
        assert ("SystemHealth", "ALARM") in announced
        assert ("SystemHealth", "OK") in announced
        assert ("ProcessedRecords-Anomaly", "ALARM") in announced
        history = cw.describe_alarm_history(
            AlarmName="SystemHealth", AlarmTypes=["CompositeAlarm"], HistoryItemType="Action"
        )["AlarmHistoryItems"]
        assert len(history) >= 2
        cw.close()
    # restart on the same data directory: states and history are as they were, the same
    # round again announces nothing
    with running(tmp_path / "data", clock) as vigil:
        cw = vigil.client()
        assert _state(cw, "ProcessedRecords-Anomaly") == "OK"
        assert _state(cw, "SystemHealth", composite=True) == "OK"
        assert cw.describe_anomaly_detectors(Namespace=namespace)["AnomalyDetectors"]
        assert vigil.events == []
        vigil.tick(T0 + 1560)
        assert [e for e in vigil.events if e.actions] == []
        items = cw.describe_alarm_history(AlarmName="ProcessedRecords-Anomaly")
        assert any(i["HistoryItemType"] == "StateUpdate" for i in items["AlarmHistoryItems"])
        cw.close()
