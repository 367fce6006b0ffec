"""Deep nesting in every language is refused with the position, never a RecursionError
(issue 18 item 7); the deepest accepted shapes still compile and print."""

from __future__ import annotations

import pytest

from vigil.query.insights import QuerySyntaxError, parse_query, print_query
from vigil.query.insights.compiler import Compiler, logs_base
from vigil.query.metricmath.errors import MathSyntaxError
from vigil.query.metricmath.parser import parse as parse_math
from vigil.query.xrayfilter import FilterError
from vigil.query.xrayfilter import parse as parse_xray
from vigil.syntax.filterpattern import PatternError
from vigil.syntax.filterpattern import parse as parse_pattern


@pytest.mark.parametrize(
    "expression",
    [
        " + ".join(["m1"] * 5000),  # the 25 KB of m1 + m1
        "(" * 5000 + "m1" + ")" * 5000,
        "-" * 5000 + "m1",
        "m1" + "^m1" * 5000,
        "ABS(" * 5000 + "m1" + ")" * 5000,
    ],
)
def test_metric_math_deep_is_refused_with_position(expression: str) -> None:
    with pytest.raises(MathSyntaxError) as info:
        parse_math(expression)
    assert "nested" in str(info.value)
    assert 0 < info.value.position < len(expression)


@pytest.mark.parametrize(
    "query",
    [
        "filter " + "(" * 4000 + "x = 1" + ")" * 4000,
        "filter " + "(" * 5000,
        "fields " + "-" * 5000 + "1",
        "filter " + "not " * 2000 + "x",
        "fields " + "abs(" * 1000 + "1" + ")" * 1000,
        "fields " + " + ".join(["x"] * 2000),
        "filter " + " and ".join(["x = 1"] * 900),
    ],
)
def test_insights_deep_is_refused_with_position(query: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_query(query)
    assert "position" in info.value.message


def test_insights_deepest_accepted_compiles_and_prints() -> None:
    for query in [
        "fields " + "(" * 30 + " + ".join(["a"] * 100) + ")" * 30,
        "fields " + " + ".join(["a" + "*a" * 100] * 40),
        "filter " + "not " * 31 + "a",
        "fields " + "abs(" * 31 + "a" + ")" * 31,
    ]:
        tree = parse_query(query)
        assert print_query(tree)
        Compiler(logs_base("t", ["g"], 0, 1)).compile(tree.commands)


@pytest.mark.parametrize(
    "pattern",
    ["{ " + "(" * 5000 + "$.a = 1" + ")" * 5000 + " }", "{ " + "(" * 5000 + " }"],
)
def test_filter_pattern_deep_is_refused_with_position(pattern: str) -> None:
    with pytest.raises(PatternError) as info:
        parse_pattern(pattern)
    assert "nested deeper than 64 at position" in str(info.value)


@pytest.mark.parametrize("expression", ["!" * 1990 + "error", "(" * 990 + "error" + ")" * 990])
def test_xray_filter_deep_is_refused_with_position(expression: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_xray(expression)
    assert "nested too deeply" in str(info.value)
