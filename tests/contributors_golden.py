"""The ``events`` and ``contributors`` kinds of golden files (tests/golden/README.md): log
events in, a Contributor Insights rule's report computed in a real store, the report out.

``load events group=G [stream=S]``, one event a line: ``OFFSET MESSAGE`` (seconds after
T0). ``eval contributors start=S end=E period=P [n=10] [order=Sum|Maximum]``: the body is
the rule definition (JSON; lines join), ``G`` in it as written. ``expect``: one line per
fact, in any order among kinds, contributors in rank order:

  keys $.ip $.method                  # KeyLabels
  aggregate Count 7                   # AggregationStatistic, AggregateValue
  unique 3                            # ApproximateUniqueCount
  contributor a,GET 4 0=2 60=2        # keys (comma-joined; quoted when they hold
                                      # spaces), value, datapoints OFFSET=V
  period 0 SampleCount=3 Sum=3 …      # MetricDatapoints of one period (the metrics named)

``expect error TEXT``: the definition is refused, TEXT in the reason. Times are offsets
from T0, a fixed minute boundary.
"""

from __future__ import annotations

import asyncio
import json
import shlex
from typing import Any

from tests.golden.frame import Block, close
from vigil.ingest.cloudwatch_logs import decode_put_log_events
from vigil.query.contributors import Report, RuleError, parse, report
from vigil.store.interface import Store

T0 = 1_800_000_000 - 1_800_000_000 % 3600


class Contributors:
    """``events`` (load) and ``contributors`` (eval/expect) for one file, in its tenant."""

    def __init__(self, store: Store, tenant: str) -> None:
        self.store = store
        self.tenant = tenant

    def load(self, block: Block) -> None:
        group, stream = block.options["group"], block.options.get("stream", "s")
        events = []
        for i, line in enumerate(block.body):
            offset, _, message = line.partition(" ")
            # ms apart within a second keep the order the file gives
            events.append({"timestamp": (T0 + int(offset)) * 1000 + i % 1000, "message": message})
        decoded = decode_put_log_events(
            sorted(events, key=lambda e: e["timestamp"]),
            tenant=self.tenant,
            group=group,
            stream=stream,
            now_ms=(T0 + 86_400) * 1000,
            retention_days=None,
        ).decoded
        assert decoded.logs is not None
        self.store.insert("logs", decoded.logs.to_arrow())

    def eval(self, block: Block) -> Report:
        o = block.options
        rule = parse("\n".join(block.body))
        return asyncio.run(
            report(
                self.store,
                rule,
                self.tenant,
                T0 + int(o["start"]),
                T0 + int(o["end"]),
                int(o["period"]),
                int(o.get("n", "10")),
                o.get("order", "Sum"),
            )
        )

    def expect(self, block: Block, outcome: Any) -> None:
        if block.error is not None:
            assert isinstance(outcome, RuleError), outcome
            assert block.error in str(outcome), f"expected {block.error!r}, got {outcome}"
            return
        assert isinstance(outcome, Report), outcome
        contributors = []
        for line in block.body:
            word, *rest = shlex.split(line)
            if word == "keys":
                assert outcome.key_labels == rest, outcome.key_labels
            elif word == "aggregate":
                assert outcome.aggregation == rest[0], outcome.aggregation
                assert close(outcome.aggregate_value, float(rest[1])), outcome.aggregate_value
            elif word == "unique":
                assert outcome.unique_count == int(rest[0]), outcome.unique_count
            elif word == "contributor":
                contributors.append(rest)
            elif word == "period":
                values = outcome.periods.get(T0 + int(rest[0]))
                assert values is not None, f"no period {rest[0]}: {sorted(outcome.periods)}"
                for item in rest[1:]:
                    name, _, want = item.partition("=")
                    assert close(values[name], float(want), block.tolerance), (
                        f"period {rest[0]} {name}: got {values[name]}, expected {want}"
                    )
            elif word == "periods":
                starts = [t - T0 for t in sorted(outcome.periods)]
                assert starts == [int(t) for t in rest], f"periods {starts}"
            else:
                raise block.fail(f"unknown expectation {word!r}")
        if contributors or any(line.split()[0] == "contributor" for line in block.body):
            ranked = [
                [",".join(c.keys), _num(c.value), *(f"{t - T0}={_num(v)}" for t, v in c.datapoints)]
                for c in outcome.contributors
            ]
            expected = [[r[0], _num(float(r[1])), *r[2:]] for r in contributors]
            assert ranked == expected, f"contributors {json.dumps(ranked)}"


def _num(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)
