"""The alarms' boundary: what an evaluation reads and what it hands on.

Evaluation is pure (``evaluate.evaluate(alarm, state, now, query)``): the clock and the data
come in as arguments, a new state and a list of ``AlarmEvent`` come out. Nothing here sends
a message or writes a row.

* ``WindowQuery`` — the data an alarm needs for one evaluation: ``query(alarm, window)``
  returns the ``Datapoints`` of the window (one value per period, NaN where the period has
  no data point). The engine fetches every due alarm's window first, in batches (alarms on
  the same namespace, metric, statistic and period in one store query), and passes a
  lookup into the prefetched data; so ``query`` is synchronous and cheap.
* ``AlarmEvent`` — one per state transition (never for an evaluation that keeps the state).
  It carries what CloudWatch puts in the SNS message of an alarm (``sns_message()``) and
  the actions of the new state (empty when ``ActionsEnabled`` is false or a composite's
  actions are suppressed). The notification pillar consumes events through an
  ``EventSink``; the alarms pillar records each one in the alarm's history first, so
  an event is never lost: a sink that fails is retried from the history on the next start
  (``delivered`` stays false until the sink returned).
* A sink is called from the engine's task on the event loop, one event at a time in
  transition order; it must not block the loop. It may return an awaitable: the event
  counts as delivered (its history item marked) only once that completes, so a sink
  that records the event durably before returning makes a crash lose nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Window:
    """The evaluation range of one evaluation: ``count`` periods ending at ``end``."""

    end: int  # epoch seconds, exclusive
    period: int
    count: int

    @property
    def start(self) -> int:
        return self.end - self.period * self.count

    def stamps(self) -> list[int]:
        return [self.start + i * self.period for i in range(self.count)]


@dataclass(slots=True)
class Datapoints:
    """One value per period of a window, oldest first (NaN: missing).

    ``samples`` (data points per period) is given for percentile statistics, so that
    EvaluateLowSampleCountPercentile can tell statistically thin periods; ``lower`` and
    ``upper`` are the band of an anomaly-detection alarm (NaN where the model has none)."""

    timestamps: list[int]
    values: Floats
    samples: Floats | None = None
    lower: Floats | None = None
    upper: Floats | None = None
    unit: str | None = None
    error: str | None = None  # the query failed: the alarm keeps its state, reason says why


class WindowQuery(Protocol):
    def __call__(self, alarm: Any, window: Window) -> Datapoints: ...


@dataclass(slots=True)
class AlarmEvent:
    """One state transition of one alarm (metric or composite)."""

    tenant: str
    alarm_name: str
    alarm_arn: str
    alarm_type: str  # "MetricAlarm" | "CompositeAlarm"
    description: str | None
    account_id: str
    region: str
    old_state: str
    new_state: str
    reason: str
    reason_data: str | None  # JSON text, as StateReasonData
    timestamp_ms: int
    actions: list[str]  # the actions of the new state, [] when disabled or suppressed
    ok_actions: list[str] = field(default_factory=list)
    alarm_actions: list[str] = field(default_factory=list)
    insufficient_data_actions: list[str] = field(default_factory=list)
    trigger: dict[str, Any] = field(default_factory=dict)  # metric(s) or AlarmRule
    suppressed_by: str | None = None  # composite: "Alarm" | "WaitPeriod" | "ExtensionPeriod"
    # A composite's actions taken when a wait or extension period ended (no new state).
    deferred: bool = False

    def sns_message(self) -> dict[str, Any]:
        """The JSON body CloudWatch publishes to an SNS topic for this transition."""
        from vigil.rules.alarms.reasons import iso_time_ms

        return {
            "AlarmName": self.alarm_name,
            "AlarmDescription": self.description,
            "AWSAccountId": self.account_id,
            "AlarmConfigurationUpdatedTimestamp": None,
            "NewStateValue": self.new_state,
            "NewStateReason": self.reason,
            "StateChangeTime": iso_time_ms(self.timestamp_ms),
            "Region": _region_name(self.region),
            "AlarmArn": self.alarm_arn,
            "OldStateValue": self.old_state,
            "OKActions": self.ok_actions,
            "AlarmActions": self.alarm_actions,
            "InsufficientDataActions": self.insufficient_data_actions,
            **(
                {"Trigger": self.trigger}
                if self.alarm_type == "MetricAlarm"
                else {"AlarmRule": self.trigger.get("AlarmRule"), **self.trigger}
            ),
        }


EventSink = Callable[[AlarmEvent], Awaitable[None] | None]


async def deliver(sink: EventSink, event: AlarmEvent) -> None:
    """Hand ``event`` to ``sink`` and, when it returns an awaitable, wait for it: only then
    does the event count as delivered (see the contract above)."""
    result = sink(event)
    if inspect.isawaitable(result):
        await result


def fan_out(sinks: list[EventSink]) -> EventSink:
    """One sink that delivers to each of ``sinks`` in order. The list is read at each
    event, so sinks that pillars built later append are included."""

    async def publish(event: AlarmEvent) -> None:
        for sink in sinks:
            await deliver(sink, event)

    return publish


_REGIONS = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-central-1": "EU (Frankfurt)",
}


def _region_name(region: str) -> str:
    # CloudWatch's SNS message names the region by its long name.
    return _REGIONS.get(region, region)
