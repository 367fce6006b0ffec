"""The golden-test frame (tests/golden/frame.py): the reader, the registry of kinds, and a
timeline kind of the shape alarms will plug in ("points in at times → states out")."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tests.golden.frame import Block, Frame, GoldenError, close, duration, instant, read


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "case.test"
    path.write_text(text)
    return path


class Threshold:
    """A toy evaluator over a timeline: BREACHING when the last ``periods`` points are all
    above the threshold, else OK (``load points`` / ``eval threshold`` / ``expect``)."""

    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []

    def load(self, block: Block) -> None:
        for t, value in block.timeline():
            self.points.append((instant(t), float(value)))

    def eval(self, block: Block) -> list[tuple[float, str]]:
        op, limit = block.words
        if op != ">":
            raise ValueError(f"unknown comparison {op!r}")
        periods = int(block.options.get("periods", "1"))
        until = instant(block.at) if block.at else math.inf
        states = []
        for i, (t, _) in enumerate(self.points):
            if t > until:
                break
            last = [v for _, v in self.points[max(0, i - periods + 1) : i + 1]]
            hot = len(last) == periods and all(v > float(limit) for v in last)
            states.append((t, "BREACHING" if hot else "OK"))
        return states

    def expect(self, block: Block, outcome: Any) -> None:
        if block.error is not None:
            assert block.error in str(outcome), f"got {outcome}"
            return
        wanted = [(instant(t), state) for t, state in block.timeline()]
        assert outcome == wanted, f"got {outcome}"


TIMELINE = """\
# A threshold over a timeline; comments and blank lines are skipped everywhere.

load points
  at 0 1
  # a comment inside a body
  at 1m 5
  at 2m 7
  at 3m 2
eval threshold > 3 periods=2
expect
  at 0 OK
  at 60 OK
  at 2m BREACHING
  at 3m OK
eval threshold > 3 periods=2 at 1m
expect
  at 0 OK
  at 1m OK
eval threshold >= 3
expect error unknown comparison
"""


def _frame() -> Frame:
    kind = Threshold()
    return Frame().register("points", kind).register("threshold", kind)


def test_a_timeline_kind_plugs_in_without_touching_the_reader(tmp_path: Path) -> None:
    assert _frame().run(_file(tmp_path, TIMELINE)) == 3


def test_the_reader_splits_headers_options_bodies_and_at(tmp_path: Path) -> None:
    blocks = read(_file(tmp_path, TIMELINE))
    assert [(b.verb, b.kind, b.line) for b in blocks] == [
        ("load", "points", 3),
        ("eval", "threshold", 9),
        ("expect", "threshold", 10),
        ("eval", "threshold", 15),
        ("expect", "threshold", 16),
        ("eval", "threshold", 19),
        ("expect", "threshold", 20),
    ]
    load, first, _, second, _, third, refusal = blocks
    assert load.body == ("at 0 1", "at 1m 5", "at 2m 7", "at 3m 2")
    assert first.words == (">", "3")
    assert first.options == {"periods": "2"}
    assert first.at is None
    assert second.at == "1m"
    assert second.text == "> 3 periods=2"
    assert third.text == ">= 3"
    assert refusal.error == "unknown comparison"


def test_failures_name_file_and_line_and_do_not_stop_the_file(tmp_path: Path) -> None:
    wrong = TIMELINE.replace("  at 2m BREACHING", "  at 2m OK").replace(
        "expect error unknown comparison", "expect\n  at 0 OK"
    )
    with pytest.raises(GoldenError) as err:
        _frame().run(_file(tmp_path, wrong))
    # One entry per failed case (pytest may add its assertion explanation under each).
    lines = [line for line in str(err.value).splitlines() if line.startswith("case.test:")]
    assert len(lines) == 2, lines
    assert lines[0].startswith("case.test:10: got [(0.0, 'OK'), (60.0, 'OK'), (120.0, 'BREACH")
    assert lines[1] == "case.test:19: >= 3: ValueError: unknown comparison '>='"


def test_an_expected_error_that_does_not_come_fails(tmp_path: Path) -> None:
    path = _file(tmp_path, "load points\n  at 0 1\neval threshold > 0\nexpect error boom\n")
    with pytest.raises(GoldenError, match=r"case.test:4: expected error boom, got no error"):
        _frame().run(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("expect\n  at 0 OK\n", "case.test:1: expect before any eval"),
        ("eval\n", "case.test:1: eval needs a kind"),
        ("  at 0 1\n", "case.test:1: indented line before any header"),
        ("query x\n", "case.test:1: 'query' is not one of load, eval, expect"),
    ],
)
def test_the_reader_refuses_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(GoldenError, match=message):
        read(_file(tmp_path, text))


def test_unknown_kinds_and_missing_methods_are_named(tmp_path: Path) -> None:
    with pytest.raises(GoldenError, match=r"no kind 'alarm' is registered \(known: points"):
        _frame().run(_file(tmp_path, "eval alarm x\nexpect\n"))

    class LoadOnly:
        def load(self, block: Block) -> None:
            pass

    frame = Frame().register("points", LoadOnly())
    with pytest.raises(GoldenError, match="kind 'points' has no eval"):
        frame.run(_file(tmp_path, "eval points x\nexpect\n"))


def test_times_durations_and_tolerance() -> None:
    assert [duration(t) for t in ("90", "1.5m", "500ms", "2h", "1d")] == [90, 90, 0.5, 7200, 86400]
    assert instant("2026-11-24T10:00:00Z") == 1795514400
    with pytest.raises(ValueError, match="not a duration"):
        duration("soon")
    assert close(100.0, 100.5, tolerance=0.01)
    assert not close(100.0, 102, tolerance=0.01)
    assert close(math.nan, math.nan)
    assert not close(math.nan, 0.0)
    assert not close(1.0, 1.001)
