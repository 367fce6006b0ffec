"""Logs Insights over several log groups (StartQuery with ``logGroupNames``,
``logGroupIdentifiers`` or SOURCE) through boto3 against a real vigil: row queries in time
order take the newest-window-first pass (query/insights/newest.py) and answer exactly what
the full sort of the range answers — order, equal timestamps, limits across group
boundaries — with statistics over the whole range.

The reference is the same events read by a query the pass does not take (two sort keys:
every row of the range, with its ``@ptr``); each row's ``@ptr`` names its group, stream,
timestamp in nanoseconds and event key, so the total order (time, then log group, then
event key, all in the time order's direction) is computed here from the reference rows.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.logs_client import logs_client, now_ms, rows, unique, wait_query
from tests.vigil_process import VigilProcess
from vigil.query.insights import parse_query
from vigil.query.insights.compiler import Compiler, logs_base
from vigil.query.insights.newest import MAX_BRANCHES

ACCOUNT = "000000000000"


@pytest.fixture(scope="module")
def logs(vigil: VigilProcess) -> Any:
    return logs_client(vigil)


@pytest.fixture(scope="module")
def world(logs: Any) -> dict[str, Any]:
    """Three groups with interleaved timestamps, equal timestamps across the groups and
    within one group, and odd/even events to filter on."""
    prefix = unique("/multi")
    names = [f"{prefix}/{g}" for g in ("a", "b", "c")]
    base = (now_ms() // 1000 - 120) * 1000
    sent: list[tuple[str, str]] = []  # (group, message)

    def put(group: str, stream: str, events: list[tuple[int, dict[str, Any]]]) -> None:
        messages = [json.dumps(m) for _, m in events]
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[
                {"timestamp": t, "message": m} for (t, _), m in zip(events, messages, strict=True)
            ],
        )
        sent.extend((group, m) for m in messages)

    for g, name in enumerate(names):
        logs.create_log_group(logGroupName=name)
        for stream in ("s1", "s2"):
            logs.create_log_stream(logGroupName=name, logStreamName=stream)
        # Interleaved: group g holds base + 3k + g ms, k < 20 (one stream each half).
        for stream, ks in (("s1", range(0, 10)), ("s2", range(10, 20))):
            put(
                name,
                stream,
                [(base + 3 * k + g, {"g": g, "k": k, "p": k % 2}) for k in ks],
            )
        # Equal timestamps: three events at base + 100 ms in every group (the index of an
        # event in its batch is its nanoseconds: the same three instants in each group).
        put(name, "s1", [(base + 100, {"g": g, "tie": i, "p": 1}) for i in range(3)])
    # Equal within one group and stream: a second batch at the same instant as the first.
    put(names[0], "s1", [(base + 100, {"g": 0, "tie": 0, "again": 1, "p": 1})])
    put(names[1], "s2", [(base + 100, {"g": 1, "tie": 0, "again": 1, "p": 0})])
    return {"names": names, "prefix": prefix, "base": base, "sent": sent}


def run(logs: Any, world: dict[str, Any], query: str, **kwargs: Any) -> dict[str, Any]:
    if "logGroupIdentifiers" not in kwargs and not query.upper().startswith("SOURCE"):
        kwargs.setdefault("logGroupNames", world["names"])
    start = world["base"] // 1000 - 60
    answer = wait_query(
        logs,
        logs.start_query(startTime=start, endTime=start + 600, queryString=query, **kwargs)[
            "queryId"
        ],
    )
    assert answer["status"] == "Complete", answer
    return answer


def as_dicts(answer: dict[str, Any]) -> list[dict[str, str]]:
    return [{f["field"]: f["value"] for f in row} for row in answer["results"]]


def order_key(row: dict[str, str]) -> tuple[int, str, int]:
    """(time in ns, log group, event key) from the row's @ptr."""
    group, _stream, ns, key = base64.b64decode(row["@ptr"]).decode().split("\n")
    return int(ns), group, int(key)


def reference(logs: Any, world: dict[str, Any], flt: str = "") -> list[dict[str, str]]:
    """Every matching row of the range, read without the pass (two sort keys)."""
    query = f"{flt}fields @timestamp, @message, @log | sort @timestamp desc, @message asc"
    every = as_dicts(run(logs, world, query))
    return sorted(every, key=order_key, reverse=True)


QUERY = "fields @timestamp, @message, @log | sort @timestamp desc | limit {n}"


@pytest.mark.parametrize("n", [1, 2, 4, 7, 11, 12, 13, 14, 20, 40, 70, 71, 500])
def test_limit_across_groups_is_the_full_sort(logs: Any, world: dict[str, Any], n: int) -> None:
    """The 11 newest events share three instants (base + 100 ms, + 0-2 ns): limits up to 11
    cut through them; the rest alternate between the groups every millisecond."""
    everything = reference(logs, world)
    assert len(everything) == len(world["sent"]) == 71
    got = as_dicts(run(logs, world, QUERY.format(n=n)))
    assert got == everything[:n]


def test_equal_timestamps_order_and_cut(logs: Any, world: dict[str, Any]) -> None:
    everything = reference(logs, world)
    ties = [r for r in everything if order_key(r)[0] // 1_000_000 == world["base"] + 100]
    assert len(ties) == 11  # 3 per group, and one more in two of the groups
    # Newest first: the tied instants come first; within an instant, group c, b, a.
    assert [json.loads(r["@message"])["g"] for r in everything[:3]] == [2, 1, 0]
    for n in range(1, 12):
        got = as_dicts(run(logs, world, QUERY.format(n=n)))
        assert got == everything[:n], n
    # The same query twice: the same answer (ties no longer left to the sort).
    again = as_dicts(run(logs, world, QUERY.format(n=5)))
    assert again == everything[:5]


def test_oldest_first_and_default_order(logs: Any, world: dict[str, Any]) -> None:
    everything = reference(logs, world)
    oldest = sorted(everything, key=order_key)
    got = as_dicts(
        run(logs, world, "fields @timestamp, @message, @log | sort @timestamp asc | limit 25")
    )
    assert got == oldest[:25]
    # No sort at all: newest first, the same pass.
    plain = as_dicts(run(logs, world, "fields @timestamp, @message, @log | limit 9"))
    assert plain == everything[:9]
    # StartQuery's own limit instead of the query's.
    limited = as_dicts(run(logs, world, "fields @timestamp, @message, @log", limit=13))
    assert limited == everything[:13]


def test_filter_limit_and_statistics(logs: Any, world: dict[str, Any]) -> None:
    flt = "filter p = 1 | "
    matching = reference(logs, world, flt)
    odd = [m for _, m in world["sent"] if json.loads(m)["p"] == 1]
    assert len(matching) == len(odd)
    answer = run(logs, world, flt + QUERY.format(n=8))
    assert as_dicts(answer) == matching[:8]
    stats = answer["statistics"]
    # Over the whole range of the three groups, not the window the rows were read from.
    assert stats["recordsMatched"] == len(odd)
    assert stats["recordsScanned"] == len(world["sent"])
    assert stats["bytesScanned"] == sum(len(m.encode()) for _, m in world["sent"])
    assert stats["logGroupsScanned"] == 3
    # Nothing matches: no rows, the same scan.
    none = run(logs, world, 'filter @message like "no such text" | ' + QUERY.format(n=5))
    assert none["results"] == []
    assert none["statistics"]["recordsMatched"] == 0
    assert none["statistics"]["recordsScanned"] == len(world["sent"])
    # Matches in one group only: its newest, across the window of all three.
    one = run(logs, world, "filter g = 2 and ispresent(k) | fields k | limit 4")
    assert [r["k"] for r in as_dicts(one)] == ["19", "18", "17", "16"]


def test_identifiers_source_and_stats_unaffected(logs: Any, world: dict[str, Any]) -> None:
    everything = reference(logs, world)
    arns = [f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:{n}" for n in world["names"]]
    by_arn = as_dicts(run(logs, world, QUERY.format(n=30), logGroupIdentifiers=arns))
    assert by_arn == everything[:30]
    source = f'SOURCE logGroups(namePrefix: ["{world["prefix"]}"]) | ' + QUERY.format(n=30)
    assert as_dicts(run(logs, world, source)) == everything[:30]
    counted = as_dicts(run(logs, world, "stats count() as n by @log | sort @log asc"))
    assert counted == [
        {"@log": f"{ACCOUNT}:{name}", "n": str(sum(1 for g, _ in world["sent"] if g == name))}
        for name in world["names"]
    ]
    # Queries the pass does not take still answer over every group.
    dedup = rows(run(logs, world, "filter ispresent(k) | dedup g | fields g | sort g asc"))
    assert dedup == [{"g": "0"}, {"g": "1"}, {"g": "2"}]
    wrapped = run(
        logs, world, "sort @timestamp desc | limit 70 | filter g = 0 | stats count() as n"
    )
    in_a = sum(1 for r in everything[:70] if json.loads(r["@message"])["g"] == 0)
    assert as_dicts(wrapped) == [{"n": str(in_a)}]


@pytest.mark.parametrize(
    ("query", "windowed"),
    [
        ("fields @message | sort @timestamp desc | limit 5", True),
        ("fields @message", True),
        ("filter x = 1 | sort @timestamp asc | limit 5", True),
        ("fields @timestamp as t | sort t desc", True),
        ("stats count() by bin(1m)", False),
        ("sort @timestamp desc | dedup x", False),
        ("limit 5 | sort @timestamp desc", False),
        ("sort @timestamp desc, x asc | limit 5", False),
        ("unnest a into b | limit 5", False),
    ],
)
@pytest.mark.parametrize("groups", [["g"], ["g", "h", "i"]])
def test_which_queries_take_the_window(query: str, windowed: bool, groups: list[str]) -> None:
    """Only row queries whose final order is time alone, read straight from the rows."""
    compiled = Compiler(logs_base("t", groups, 0, 1), limit=None).compile(
        parse_query(query).commands
    )
    assert (compiled.window is not None) is windowed
    if windowed:
        assert compiled.window is not None
        assert compiled.sql.count("log_group") >= 1
        assert compiled.window.sql.count("UNION ALL") == len(groups) - 1
        assert compiled.count_sql is not None
        assert "window_ns" not in compiled.count_sql


def test_many_groups_read_in_one_branch(logs: Any) -> None:
    """Over MAX_BRANCHES groups the window's first statement reads them all with one IN
    (SOURCE can match more than StartQuery's 50 names); the answer is the same."""
    assert "UNION ALL" not in (
        Compiler(logs_base("t", [f"g{i}" for i in range(MAX_BRANCHES + 1)], 0, 1))
        .compile(parse_query("fields @message | limit 5").commands)
        .window.sql  # type: ignore[union-attr]
    )
    prefix = unique("/many")
    base = (now_ms() // 1000 - 60) * 1000
    names = [f"{prefix}/{i:02d}" for i in range(MAX_BRANCHES + 1)]
    for i, name in enumerate(names):
        logs.create_log_group(logGroupName=name)
        logs.create_log_stream(logGroupName=name, logStreamName="s")
        # Group i: base + i ms, and a tie at base + 100 ms in every tenth group.
        events = [{"timestamp": base + i, "message": f"{i}"}]
        if i % 10 == 0:
            events.append({"timestamp": base + 100, "message": f"{i} tie"})
        logs.put_log_events(logGroupName=name, logStreamName="s", logEvents=events)
    world = {"names": names, "prefix": prefix, "base": base}
    source = f'SOURCE logGroups(namePrefix: ["{prefix}/"]) | '
    got = as_dicts(run(logs, world, source + QUERY.format(n=9)))
    assert [r["@message"] for r in got] == [
        "50 tie", "40 tie", "30 tie", "20 tie", "10 tie", "0 tie", "50", "49", "48"
    ]  # fmt: skip
    assert run(logs, world, source + QUERY.format(n=9))["statistics"]["recordsScanned"] == 57
