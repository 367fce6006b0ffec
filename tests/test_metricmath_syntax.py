"""Metric math syntax: lexer and parser errors with positions, printer round trips, and a
property test over generated trees."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.query.metricmath import MathSyntaxError, parse, to_text
from vigil.query.metricmath.ast import ArrayLiteral, Binary, Call, Name, Node, Number, String, Unary


@pytest.mark.parametrize(
    ("source", "canonical"),
    [
        ("m1+m2*3", "m1 + m2 * 3"),
        ("(m1 + m2) / 2", "(m1 + m2) / 2"),
        ("-2^2", "-2 ^ 2"),
        ("2^-1", "2 ^ (-1)"),
        ("a^b^c", "a ^ b ^ c"),
        ("(a^b)^c", "(a ^ b) ^ c"),
        ("a - (b - c)", "a - (b - c)"),
        ("e1 || e2 && e3", "e1 OR e2 AND e3"),
        ("(e1 or e2) and e3", "(e1 OR e2) AND e3"),
        ("IF(m1 > 3 AND m2 <= 1, m1, 0)", "IF(m1 > 3 AND m2 <= 1, m1, 0)"),
        ("fill(m1, repeat)", "FILL(m1, repeat)"),
        ("MAX([m1, m2])", "MAX([m1, m2])"),
        (
            "SEARCH('{App,Host} MetricName=\"x\"', 'p99', 300)",
            "SEARCH('{App,Host} MetricName=\"x\"', 'p99', 300)",
        ),
        ("'it\\'s'", "'it\\'s'"),
        ("1.5e3 + .5", "1500 + 0.5"),
    ],
)
def test_round_trip(source: str, canonical: str) -> None:
    tree = parse(source)
    assert to_text(tree) == canonical
    assert parse(canonical) == tree


@pytest.mark.parametrize(
    ("source", "position", "reason"),
    [
        ("m1 + * 2", 5, "unexpected '*'"),
        ("SUM(m1", 6, "expected ',' or ')' but found end of expression"),
        ("(m1 + 2", 7, "expected ')'"),
        ("m1 $ 2", 3, "unexpected character '$'"),
        ("'open", 0, "unterminated string"),
        ("m1 m2", 3, "unexpected 'm2'"),
        ("a < b < c", 6, "comparisons cannot be chained"),
        ("", 0, "the expression is empty"),
        ("MAX(m1,)", 7, "unexpected ')'"),
    ],
)
def test_errors_name_the_position(source: str, position: int, reason: str) -> None:
    with pytest.raises(MathSyntaxError) as err:
        parse(source)
    assert err.value.position == position
    assert reason in str(err.value)
    assert f"position {position}" in str(err.value)


def test_deep_nesting_is_refused_not_a_crash() -> None:
    with pytest.raises(MathSyntaxError):
        parse("(" * 5000 + "1" + ")" * 5000)


_names = st.sampled_from(["m1", "m2", "e1", "errors", "REPEAT"])
_leaves: st.SearchStrategy[Node] = st.one_of(
    st.floats(min_value=0, max_value=1e6, allow_nan=False).map(lambda v: Number(round(v, 3))),
    _names.map(Name),
    st.text(alphabet="ab {}=\"'\\", max_size=8).map(String),
)


def _extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    ops = st.sampled_from(["+", "-", "*", "/", "^", "==", "!=", "<", "<=", ">", ">=", "AND", "OR"])
    return st.one_of(
        st.builds(Binary, ops, children, children),
        st.builds(Unary, st.just("-"), children),
        st.builds(
            Call,
            st.sampled_from(["ABS", "FILL", "SUM", "IF"]),
            st.lists(children, max_size=3).map(tuple),
        ),
        st.builds(ArrayLiteral, st.lists(children, max_size=3).map(tuple)),
    )


def _valid(node: Node) -> bool:
    """Trees the grammar can produce: comparisons are not chained directly."""
    comparisons = {"==", "!=", "<", "<=", ">", ">="}
    if isinstance(node, Binary):
        if node.op in comparisons and isinstance(node.left, Binary) and node.left.op in comparisons:
            return False
        return _valid(node.left) and _valid(node.right)
    if isinstance(node, Unary):
        return not isinstance(node.operand, Number) and _valid(node.operand)
    if isinstance(node, Call):
        return all(_valid(a) for a in node.args)
    if isinstance(node, ArrayLiteral):
        return all(_valid(a) for a in node.items)
    return True


@settings(max_examples=300, deadline=None)
@given(st.recursive(_leaves, _extend, max_leaves=12))
def test_printed_trees_parse_back_to_themselves(tree: Node) -> None:
    if not _valid(tree):
        return
    assert parse(to_text(tree)) == tree


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="m12+-*/^()[],<>=!&|' ANDORIFSUM.e", max_size=30))
def test_arbitrary_text_parses_or_fails_cleanly(source: str) -> None:
    error: MathSyntaxError | None = None
    try:
        tree = parse(source)
    except MathSyntaxError as exc:
        error = exc
    if error is not None:
        assert 0 <= error.position <= len(source)
    else:
        assert parse(to_text(tree)) == tree
