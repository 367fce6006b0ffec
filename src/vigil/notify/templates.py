"""User templates for the bodies of webhook, Slack and Teams notifications (Jinja2, sandboxed).

A subscription's ``vigil:BodyTemplate`` attribute replaces the body vigil would send with
the template's output. Why Jinja2 and not Alertmanager's Go templates: vigil is Python,
Jinja2 is the field's maintained template engine there with a real sandbox
(``SandboxedEnvironment``: no attribute access to internals, no calls to unsafe
callables), and its syntax errors carry the line; a Go-template look-alike would be a
hand-written language with neither. The variables are the notification's own fields, the
names Alertmanager users look for where they exist:

* ``key``, ``kind`` (trigger, acknowledge, resolve, message), ``status`` (firing for a
  trigger, resolved, acknowledged, or message), ``severity``, ``subject``, ``message``,
  ``group``, ``topic_arn``, ``incident_id``, ``timestamp`` (epoch seconds),
* ``links`` (``alarm``, ``ack``, ``graph`` when present), ``attributes`` (SNS message
  attributes), ``details`` (AlarmName, NewStateReason, log lines, …),
* ``alarm``: the CloudWatch alarm message (AlarmName, NewStateValue, NewStateReason,
  Trigger, …) when the message is one, else an empty mapping.

``tojson`` makes JSON of any value. Checked when the attribute is set (``check``): a
syntax error, or a variable that is none of the above, is refused with its line; the
template is rendered against sample notifications (a metric alarm's trigger and its
resolve), and for Slack and Teams its output must be a JSON object. Bounded when it runs:
``range`` counts every iteration of a render against one budget, ``*`` and ``**`` on
sequences and numbers are capped, and the output is cut at ``MAX_OUTPUT`` (a render that
goes over is a failed, not retried, delivery: a template is the user's code).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterator, Mapping
from dataclasses import replace
from functools import lru_cache
from typing import Any

import orjson

from vigil.notify.interface import Notification, SendOutcome

ATTRIBUTE = "vigil:BodyTemplate"
KINDS = ("webhook", "slack", "msteams")  # the receivers whose bodies a template replaces
JSON_KINDS = ("slack", "msteams")  # whose bodies must be JSON objects
MAX_TEMPLATE = 16 * 1024
MAX_OUTPUT = 256 * 1024
MAX_ITERATIONS = 100_000  # per render, over every range()
MAX_POWER = 1_000_000
_STATUS = {"trigger": "firing", "resolve": "resolved", "acknowledge": "acknowledged"}
VARIABLES = frozenset(
    {
        "key",
        "kind",
        "status",
        "severity",
        "subject",
        "message",
        "group",
        "topic_arn",
        "incident_id",
        "timestamp",
        "links",
        "attributes",
        "details",
        "alarm",
    }
)


_JINJA_NAMES = frozenset({"loop", "caller", "varargs", "kwargs", "super", "self"})


class BodyTemplateError(ValueError):
    """A template refused, with the line when there is one."""


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_ITERATIONS

    def range(self, *args: int) -> Iterator[int]:
        for i in range(*args):
            self.left -= 1
            if self.left < 0:
                raise BodyTemplateError(f"template ran over {MAX_ITERATIONS} loop iterations")
            yield i


def _size(value: Any) -> int:
    if isinstance(value, str | bytes | list | tuple):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value)
    return 1


@lru_cache(maxsize=1)
def _env() -> Any:
    """The sandbox, made on first use: jinja2 costs ~11 MB of memory, which a vigil with
    no template never pays (its idle memory is watched)."""
    from jinja2.sandbox import SandboxedEnvironment

    class Env(SandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
            if operator_ == "**":
                if isinstance(right, int | float) and abs(right) > 64:
                    raise BodyTemplateError("exponent too large in template")
                return operator.pow(left, right)
            size = max(_size(left), 1) * max(_size(right), 1)
            if size > MAX_OUTPUT:
                raise BodyTemplateError("template multiplies a value beyond the output limit")
            return operator.mul(left, right)

    env = Env(autoescape=False, keep_trailing_newline=True)
    env.filters["tojson"] = lambda value: json.dumps(value, default=str)
    return env


@lru_cache(maxsize=128)
def _compiled(source: str) -> Any:
    return _env().from_string(source)


def check(source: str, kind: str) -> None:
    """Refuse a template that cannot work (``BodyTemplateError`` naming the line)."""
    from jinja2 import TemplateSyntaxError, nodes

    if kind not in KINDS:
        raise BodyTemplateError(f"{ATTRIBUTE} applies to {', '.join(KINDS)} subscriptions")
    if len(source) > MAX_TEMPLATE:
        raise BodyTemplateError(f"{ATTRIBUTE} is at most {MAX_TEMPLATE} characters")
    try:
        tree = _env().parse(source)
    except TemplateSyntaxError as exc:
        raise BodyTemplateError(f"line {exc.lineno}: {exc.message}") from None
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for name in tree.find_all(nodes.Name):
        if (
            name.ctx == "load"
            and name.name not in VARIABLES
            and name.name not in assigned
            and name.name not in _env().globals
            and name.name not in _JINJA_NAMES
        ):
            raise BodyTemplateError(
                f"line {name.lineno}: unknown variable {name.name!r}"
                f" (one of {', '.join(sorted(VARIABLES))})"
            )
    for sample in _samples():
        body = render(source, sample, 0.0)  # raises with the line where it can
        if kind in JSON_KINDS:
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise BodyTemplateError(
                    f"the output for a {sample.kind} is not JSON ({kind} needs a JSON"
                    f" object): {exc}"
                ) from None
            if not isinstance(parsed, dict):
                raise BodyTemplateError(f"the output must be a JSON object for {kind}")


def context(n: Notification, now: float) -> dict[str, Any]:
    alarm: Mapping[str, Any] = {}
    if n.message.startswith("{"):
        try:
            parsed = orjson.loads(n.message)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict) and "AlarmName" in parsed:
            alarm = parsed
    return {
        "key": n.key,
        "kind": n.kind,
        "status": _STATUS.get(n.kind, "message"),
        "severity": n.severity,
        "subject": n.subject,
        "message": n.message,
        "group": n.group,
        "topic_arn": n.topic_arn,
        "incident_id": n.incident_id,
        "timestamp": now,
        "links": dict(n.links),
        "attributes": dict(n.attributes),
        "details": {k: v for k, v in n.details.items() if k != "graph"},
        "alarm": alarm,
    }


def render(source: str, n: Notification, now: float) -> str:
    """The body; ``BodyTemplateError`` (with the line where known) if the render fails."""
    from jinja2 import TemplateError

    budget = _Budget()
    out: list[str] = []
    size = 0
    try:
        for chunk in _compiled(source).generate(**context(n, now), range=budget.range):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise BodyTemplateError(f"template output over {MAX_OUTPUT} characters")
            out.append(chunk)
    except BodyTemplateError:
        raise
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
        line = _line(exc)
        raise BodyTemplateError(f"{line}{type(exc).__name__}: {exc}") from None
    return "".join(out)


def _line(exc: BaseException) -> str:
    """``line N: `` from the traceback frame of the compiled template, if found."""
    tb = exc.__traceback__
    found = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            found = tb.tb_lineno
        tb = tb.tb_next
    return "" if found is None else f"line {found}: "


def _samples() -> list[Notification]:
    message = {
        "AlarmName": "HighLatency",
        "AlarmDescription": None,
        "AWSAccountId": "000000000000",
        "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed: 1 datapoint [400.0] was greater than 150.0.",
        "StateChangeTime": "2026-12-07T10:00:00.000+0000",
        "Region": "US East (N. Virginia)",
        "AlarmArn": "arn:aws:cloudwatch:us-east-1:000000000000:alarm:HighLatency",
        "OldStateValue": "OK",
        "Trigger": {
            "MetricName": "Latency",
            "Namespace": "App",
            "Statistic": "AVERAGE",
            "Dimensions": [{"value": "api", "name": "Service"}],
            "Period": 60,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 150.0,
        },
    }
    trigger = Notification(
        key="sample/trigger",
        subject='ALARM: "HighLatency" in US East (N. Virginia)',
        message=orjson.dumps(message).decode(),
        kind="trigger",
        severity="critical",
        group=str(message["AlarmArn"]),
        incident_id="inc-sample",
        links={"alarm": "https://vigil.example/alarms/HighLatency", "ack": "https://…/ack"},
        details={"AlarmName": "HighLatency", "NewStateReason": message["NewStateReason"]},
    )
    resolve = Notification(
        key="sample/resolve",
        subject='OK: "HighLatency" in US East (N. Virginia)',
        message=orjson.dumps({**message, "NewStateValue": "OK", "OldStateValue": "ALARM"}).decode(),
        kind="resolve",
        severity="critical",
        group=str(message["AlarmArn"]),
        details={"AlarmName": "HighLatency"},
    )
    return [trigger, resolve]


def body_for(
    target_options: Mapping[str, str], n: Notification, now: float, default: bytes, kind: str
) -> tuple[bytes, str, str]:
    """(body, content type, note) of a send: the template's output when the target has
    one, else ``default`` (JSON). A template that fails when it runs (it was checked when
    set, but a notification may differ from the samples) never costs the notification:
    the default body goes out and the note says why, in the attempt's record."""
    source = target_options.get("template")
    if not source:
        return default, "application/json", ""
    try:
        text = render(source, n, now)
        if kind in JSON_KINDS:
            parsed = orjson.loads(text)
            if not isinstance(parsed, dict):
                raise BodyTemplateError("the output is not a JSON object")
            return text.encode(), "application/json", ""
    except (BodyTemplateError, orjson.JSONDecodeError) as exc:
        return default, "application/json", f"template failed ({exc}); sent the default body"
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return text.encode(), "text/plain; charset=utf-8", ""
    return text.encode(), "application/json", ""


def noted(outcome: SendOutcome, note: str) -> SendOutcome:
    if not note:
        return outcome
    return replace(outcome, detail=(note + ("; " + outcome.detail if outcome.detail else ""))[:300])
