"""The JSON read API for metrics: statistics, rollup levels and math expressions, without
any AWS protocol."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import boto3

from tests.vigil_process import VigilProcess


def _put(vigil: VigilProcess, ns: str, t0: datetime) -> None:
    cw = boto3.client(
        "cloudwatch",
        endpoint_url=vigil.url,
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {
                "MetricName": "Latency",
                "Dimensions": [{"Name": "Host", "Value": h}],
                "Timestamp": t0 + timedelta(minutes=m),
                "Values": [1.0, 2.0, 3.0, 10.0],
                "Unit": "Milliseconds",
            }
            for m in range(3)
            for h in ("a", "b")
        ],
    )
    cw.close()


def test_datapoints_statistics_and_query_expressions(vigil: VigilProcess) -> None:
    ns = f"Read/{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    t0 = now - timedelta(minutes=5)
    _put(vigil, ns, t0)
    window = {"start": str(int(t0.timestamp())), "end": str(int(now.timestamp()))}
    with vigil.client() as http:
        answer = http.get(
            "/api/v1/metrics/datapoints",
            params={
                "namespace": ns,
                "name": "Latency",
                "dimension": "Host=a",
                "statistic": "TM(:75%)",
                "period": 60,
                **window,
            },
        ).json()
        assert [p["value"] for p in answer["datapoints"]] == [2.0, 2.0, 2.0]
        assert answer["level"] == "raw"  # distribution statistics read raw points while kept
        sums = http.get(
            "/api/v1/metrics/datapoints",
            params={
                "namespace": ns,
                "name": "Latency",
                "dimension": "Host=a",
                "statistic": "Sum",
                "period": 60,
                **window,
            },
        ).json()
        assert sums["level"] == "1m"
        assert [p["time"] for p in sums["datapoints"]] == [
            int((t0 + timedelta(minutes=m)).timestamp()) for m in range(3)
        ]
        assert {p["value"] for p in sums["datapoints"]} == {16.0}
        assert {p["unit"] for p in sums["datapoints"]} == {"Milliseconds"}

        query = http.post(
            "/api/v1/metrics/query",
            json={
                **window,
                "queries": [
                    {
                        "id": "hosts",
                        "expression": f"SEARCH('{{{ns},Host}} Latency', 'p50', 60)",
                        "return_data": False,
                    },
                    {"id": "total", "expression": "SUM(hosts)", "label": "both hosts"},
                    {
                        "id": "a",
                        "namespace": ns,
                        "name": "Latency",
                        "dimensions": {"Host": "a"},
                        "stat": "Maximum",
                        "period": 180,
                    },
                ],
            },
        )
        assert query.status_code == 200, query.text
        total, a = query.json()["results"]
        assert (total["id"], total["label"], total["values"]) == (
            "total",
            "both hosts",
            [4.0, 4.0, 4.0],
        )
        assert a["values"] == [10.0]

        bad = http.get(
            "/api/v1/metrics/datapoints",
            params={"namespace": ns, "name": "Latency", "statistic": "p200"},
        )
        assert bad.status_code == 400
        assert bad.json()["error"]["field"] == "statistic"
        bad = http.post(
            "/api/v1/metrics/query", json={"queries": [{"id": "e1", "expression": "1 +* 2"}]}
        )
        assert bad.status_code == 400
        assert bad.json()["error"]["field"] == "queries.e1"
        assert "position 3" in bad.json()["error"]["message"]
        bad = http.post("/api/v1/metrics/query", json={"queries": [{"id": "m1"}]})
        assert bad.json()["error"]["field"] == "queries[0].namespace"
        functions = http.get("/api/v1/metrics/functions").json()
        assert "SEARCH" in functions["functions"]
        assert "IQM" in functions["statistics"]
