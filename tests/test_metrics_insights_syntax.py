"""The Metrics Insights parser alone: quoting, escapes, precedence, case, and refusals
that name the position (the semantics against the store are the golden files)."""

from __future__ import annotations

import pytest

from vigil.query.metricsinsights import InsightsSyntaxError, looks_like_insights, parse
from vigil.query.metricsinsights.syntax import Compare, Logical


def test_quoting_and_escapes() -> None:
    q = parse(
        r'SELECT AVG("Bytes\"In\"") FROM SCHEMA("My/App", "host-name", Zone)'
        r""" WHERE "host-name" = 'it''s' AND Zone = 'a\'b'"""
    )
    assert q.metric == 'Bytes"In"'
    assert q.namespace == "My/App"
    assert q.schema == ("host-name", "Zone")
    assert q.where == Logical(
        "AND", Compare("host-name", "=", ("it's",)), Compare("Zone", "=", ("a'b",))
    )


def test_keywords_any_case_identifiers_as_written() -> None:
    q = parse("select max(Cpu) from Ns group by Host, Zone order by sum() asc limit 3")
    assert (q.function, q.metric, q.namespace) == ("MAX", "Cpu", "Ns")
    assert q.group_by == ("Host", "Zone")
    assert (q.order_function, q.descending, q.limit) == ("SUM", False, 3)
    assert q.schema is None


def test_and_binds_tighter_than_or() -> None:
    q = parse("SELECT SUM(x) FROM n WHERE a = '1' OR b = '2' AND c IN ('3', '4')")
    assert q.where == Logical(
        "OR",
        Compare("a", "=", ("1",)),
        Logical("AND", Compare("b", "=", ("2",)), Compare("c", "IN", ("3", "4"))),
    )
    q = parse("SELECT SUM(x) FROM n WHERE (a = '1' OR b != '2') AND c NOT IN ('3') AND d LIKE 'p%'")
    assert isinstance(q.where, Logical)
    assert q.where.op == "AND"


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("SELECT AVG(x) FROM", 18, "expected the namespace"),
        ("SELECT AVG(x) FROM n WHERE", 26, "expected the label key"),
        ("SELECT AVG(x) FROM n WHERE a = 'b' GROUP Host", 41, "expected BY"),
        ("SELECT AVG(x) FROM n ORDER BY AVG() SIDEWAYS", 36, "unexpected 'SIDEWAYS'"),
        ('SELECT AVG(x) FROM ""', 19, "the namespace is empty"),
        ("SELECT AVG(x) FROM n WHERE a = 'b", 31, "unterminated label value"),
        ('SELECT AVG("x) FROM n', 11, "unterminated quoted identifier"),
        ("SELECT AVG(x) FROM n LIMIT 0", 27, "LIMIT must be between 1 and 500"),
        ("SELECT AVG(x) FROM n LIMIT x", 27, "expected a number"),
        ("SELECT AVG(GROUP) FROM n", 11, "GROUP is a reserved keyword"),
        ("SELECT AVG(x) FROM SCHEMA(n, WHERE)", 29, "WHERE is a reserved keyword"),
        ("SELECT AVG(x) FROM n WHERE a IN 'b'", 32, "expected '('"),
        ("SELECT AVG(x) FROM n WHERE a ~ 'b'", 29, "unexpected character '~'"),
    ],
)
def test_refusals_name_the_position(text: str, position: int, fragment: str) -> None:
    with pytest.raises(InsightsSyntaxError) as error:
        parse(text)
    assert error.value.position == position, str(error.value)
    assert fragment in str(error.value)


def test_only_select_is_insights() -> None:
    assert looks_like_insights("  select AVG(x) FROM n")
    assert not looks_like_insights("SELECTED + 1")
    assert not looks_like_insights("SEARCH('{n} x', 'Sum', 60)")
