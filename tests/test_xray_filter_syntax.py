"""Filter expression syntax: parse errors name their position; the printer round-trips
(property-tested on generated ASTs); arbitrary text never fails other than FilterError."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.query.xrayfilter import FilterError, compile_filter, parse, to_text
from vigil.query.xrayfilter.ast import (
    And,
    Compare,
    Edge,
    Expr,
    NodeRef,
    Not,
    Or,
    RootCause,
    Service,
)


@pytest.mark.parametrize(
    ("text", "pos", "fragment"),
    [
        ("duration >", 10, "expected a value"),
        ('service("x"', 11, "expected ')'"),
        ('http.status = "500"', 14, "compares with a number"),
        ("nosuch = 1", 0, "unknown keyword"),
        ("duration > 1 AND", 16, "expected a keyword"),
        ('user = "open', 7, "unterminated string"),
        ('service("a") { edge("a", "b") }', 15, "not allowed inside"),
        ("annotation.k CONTAINS 5", 13, "does not apply to numbers"),
        ("fault > true", 6, "takes only = or !="),
        ('rootcause.fault.nowhere { name = "x" }', 0, "rootcause"),
        ('rootcause.latency.service { name = "x" }', 0, "responsetime"),
        ('rootcause.responsetime.service { message = "x" }', 33, "unknown keyword 'message'"),
        ("rootcause.responsetime.entity { coverage = true }", 43, "compares with a number"),
        ('rootcause.responsetime.entity { remote = "yes" }', 41, "compares with a boolean"),
        ("rootcause.responsetime.service { coverage CONTAINS 1 }", 42, "does not apply"),
        ("rootcause.fault.service { coverage > 0.5 }", 26, "unknown keyword 'coverage'"),
        ("rootcause.responsetime.service", 30, "expected '{'"),
        ("duration > 1 AND coverage > 0.5", 17, "unknown keyword"),
        ("duration > 1 )", 13, "unexpected"),
        ("#", 0, "unexpected character"),
        ("", 0, "empty"),
    ],
)
def test_errors_name_the_position(text: str, pos: int, fragment: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse(text)
    assert caught.value.pos == pos
    assert fragment in caught.value.message


def test_precedence_and_synonyms() -> None:
    assert parse("a.b = 1" if False else "fault OR error AND ok") == Or(
        (Compare("fault"), And((Compare("error"), Compare("ok"))))
    )
    assert parse("!fault && error || ok") == parse("(NOT fault AND error) OR ok")
    assert parse('annotation.Key_1 = "v"') == Compare("annotation.Key_1", "=", "v")
    assert parse("HTTP.STATUS >= 500") == Compare("http.status", ">=", 500.0)


names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8)
keys = st.from_regex(r"[A-Za-z0-9_]{1,8}", fullmatch=True)
numbers = st.floats(allow_nan=False, allow_infinity=False, width=32).map(float)
nodes = st.builds(NodeRef, st.none() | names, st.none() | names, st.just(True)).filter(
    lambda n: n.name is not None or n.type is not None
) | st.builds(NodeRef, names)


def compares(span: bool) -> st.SearchStrategy[Compare]:
    flags = st.sampled_from(["ok", "error", "fault", "throttle"] + ([] if span else ["partial"]))
    return st.one_of(
        st.builds(Compare, flags),
        st.builds(Compare, flags, st.sampled_from(["=", "!="]), st.booleans()),
        st.builds(
            Compare,
            st.sampled_from(["duration", "responsetime", "http.status"]),
            st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
            numbers,
        ),
        st.builds(
            Compare,
            st.sampled_from(["http.url", "http.method", "user", "http.clientip"]),
            st.sampled_from(["=", "!=", "CONTAINS", "BEGINSWITH", "ENDSWITH"]),
            names,
        ),
        st.builds(Compare, keys.map(lambda k: "annotation." + k), st.just("="), names | numbers),
    )


def tree(leaves: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.builds(Not, inner),
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
        ),
        max_leaves=6,
    )


span_exprs = tree(compares(span=True))
trace_leaves: st.SearchStrategy[Expr] = st.one_of(
    compares(span=False),
    st.builds(Service, st.none() | nodes, st.none() | span_exprs),
    st.builds(Edge, nodes, nodes, st.none() | span_exprs),
    st.builds(
        RootCause,
        st.sampled_from(["fault", "error", "throttle"]),
        st.sampled_from(["service", "entity"]),
        st.builds(Compare, st.sampled_from(["name", "type", "message"]), st.just("="), names),
    ),
    st.builds(
        RootCause,
        st.just("responsetime"),
        st.sampled_from(["service", "entity"]),
        tree(
            st.one_of(
                st.builds(
                    Compare,
                    st.sampled_from(["name", "type"]),
                    st.sampled_from(["=", "!=", "CONTAINS", "BEGINSWITH", "ENDSWITH"]),
                    names,
                ),
                st.builds(Compare, st.just("remote")),
                st.builds(Compare, st.just("remote"), st.sampled_from(["=", "!="]), st.booleans()),
                st.builds(
                    Compare,
                    st.just("coverage"),
                    st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
                    numbers,
                ),
            )
        ),
    ),
)


@pytest.mark.parametrize(
    "text",
    [
        'rootcause.responsetime.service { name = "orders" }',
        'rootcause.responsetime.entity { name CONTAINS "compute" AND NOT remote }',
        "rootcause.responsetime.service { remote = false OR coverage >= 0.5 }",
        'rootcause.responsetime.entity { (type BEGINSWITH "AWS::" AND remote) OR coverage < 1 }',
        'NOT rootcause.responsetime.service { type = "AWS::DynamoDB" } AND duration > 1',
        "rootcause.fault.entity { remote }",
    ],
)
def test_rootcause_forms_round_trip(text: str) -> None:
    expr = parse(text)
    printed = to_text(expr)
    assert parse(printed) == expr
    assert to_text(parse(printed)) == printed
    compiled = compile_filter(expr)
    assert compiled.where.count("(") == compiled.where.count(")")


def test_rootcause_responsetime_ast() -> None:
    assert parse('ROOTCAUSE.RESPONSETIME.SERVICE { Name = "x" AND remote }') == RootCause(
        "responsetime",
        "service",
        And((Compare("name", "=", "x"), Compare("remote"))),
    )
    assert to_text(parse("rootcause.responsetime.entity { coverage > 0.5 }")) == (
        "rootcause.responsetime.entity { coverage > 0.5 }"
    )


@settings(max_examples=300, deadline=None)
@given(tree(trace_leaves))
def test_printer_round_trips(expr: Expr) -> None:
    text = to_text(expr)
    assert parse(text) == expr
    compiled = compile_filter(expr)
    assert compiled.where.count("(") == compiled.where.count(")")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet='abcdefghijklmnopqrstuvwxyz.()"{}=!<>&|, 0123456789:', max_size=40))
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    error: FilterError | None = None
    try:
        expr = parse(text)
    except FilterError as exc:
        error = exc
    if error is not None:
        assert 0 <= error.pos <= len(text)
    else:
        assert parse(to_text(expr)) == expr
