"""The CloudWatch filter-pattern language: terms, JSON and space-delimited patterns,
the values metric filters extract, and a property test that the parser never crashes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.syntax.filterpattern import PatternError, parse
from vigil.syntax.filterpattern.match import split_fields

APACHE = '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 404 1534'


@pytest.mark.parametrize(
    ("pattern", "message", "matches"),
    [
        ("", "anything", True),
        ("ERROR", "[ERROR] boom", True),
        ("ERROR", "[error] boom", False),  # case-sensitive
        ("ERROR Exception", "ERROR: IllegalArgumentException", True),
        ("ERROR Exception", "ERROR only", False),
        ('"Connection refused"', "java: Connection refused (x)", True),
        ('"Connection refused"', "Connection was refused", False),
        ("?ERROR ?WARN", "WARN disk", True),
        ("?ERROR ?WARN", "INFO ok", False),
        ("ERROR -health", "ERROR in health check", False),
        ("ERROR -health", "ERROR in worker", True),
        ("%[Ee]rror [0-9]+%", "got error 42", True),
        ("%[Ee]rror [0-9]+%", "got error x", False),
        ('{ $.level = "ERROR" }', '{"level": "ERROR"}', True),
        ('{ $.level = "ERROR" }', "level = ERROR", False),
        ('{ $.level = "ERR*" }', '{"level": "ERROR"}', True),
        ("{ $.level = %^E.R% }", '{"level": "EAR"}', True),
        ('{ $.latency > 100 && $.path != "/health" }', '{"latency": 150, "path": "/a"}', True),
        (
            '{ $.latency > 100 && $.path != "/health" }',
            '{"latency": 150, "path": "/health"}',
            False,
        ),
        ("{ ($.a = 1 || $.b = 2) && $.c = 3 }", '{"b": 2, "c": 3}', True),
        ("{ $.a = 1 || $.b = 2 && $.c = 3 }", '{"a": 1}', True),
        ("{ $.user.id = 7 }", '{"user": {"id": 7}}', True),
        ('{ $.tags[1] = "b" }', '{"tags": ["a", "b"]}', True),
        ("{ $.x IS NULL }", '{"x": null}', True),
        ("{ $.x NOT EXISTS }", '{"y": 1}', True),
        ("{ $.x NOT EXISTS }", '{"x": 1}', False),
        ("{ $.ok IS TRUE }", '{"ok": true}', True),
        ("{ $.ok IS FALSE }", '{"ok": true}', False),
        ("{ $.n = 5 }", '{"n": 5.0}', True),
        ("{ $.n >= 5 }", '{"n": "abc"}', False),
        ("[ip, id, user, timestamp, request, status_code = 4*, bytes]", APACHE, True),
        ("[ip, id, user, timestamp, request, status_code = 5*, bytes]", APACHE, False),
        ("[..., status_code, bytes > 1000]", APACHE, True),
        ("[ip, ..., bytes < 1000]", APACHE, False),
        ("[ip = 127.0.0.1, ...]", APACHE, True),
        ("[a, b]", APACHE, False),  # field count must match without ...
        ("[..., code = 404 || code = 500, size]", APACHE, True),
        ("[..., code != 404 && code != 500, size]", APACHE, False),
    ],
)
def test_match(pattern: str, message: str, matches: bool) -> None:
    assert parse(pattern).match(message) is matches


def test_extracted_values() -> None:
    p = parse("[ip, id, user, timestamp, request, status_code, bytes]")
    found = p.extract(APACHE)
    assert found is not None
    assert found["$status_code"] == "404"
    assert found["$timestamp"] == "10/Oct/2000:13:25:15 -0700"
    assert found["$5"] == "GET /apache_pb.gif HTTP/1.0"
    j = parse('{ $.level = "ERROR" }')
    values = j.extract(json.dumps({"level": "ERROR", "latency": 12, "user": {"id": 7}}))
    assert values is not None
    assert j.value_of("$.latency", values) == 12
    assert j.value_of("$.user.id", values) == 7
    assert j.value_of("$.missing", values) is None


def test_split_fields() -> None:
    assert split_fields('a  "b c" [d e] f') == ["a", "b c", "d e", "f"]


def test_sql_prefilter_is_exact_for_terms() -> None:
    sql, params = parse('ERROR ?x "a b"'.replace("?x ", "")).sql()
    assert "position(body" in sql
    assert set(params.values()) == {"ERROR", "a b"}
    assert parse("{ $.a = 1 }").exact_in_sql() is False


@pytest.mark.parametrize(
    "bad",
    ["{ $.level = }", "{ $.a = 1", "{ level = 1 }", '"open', "[a, b", "[a, a]", "%[%", "?a b",
     "{ $.a = 1 } x", "{ $.a IS MAYBE }", "[a = ]"],
)  # fmt: skip
def test_errors(bad: str) -> None:
    with pytest.raises(PatternError):
        parse(bad)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_never_crashes(pattern: str, message: str) -> None:
    try:
        parsed = parse(pattern)
    except PatternError:
        return
    parsed.match(message)


PIECES = st.sampled_from(
    ["{", "}", "$.a", "$.b[0]", "=", "!=", ">", "&&", "||", "(", ")", '"x*"', "1", "IS", "NULL",
     "NOT", "EXISTS", "[", "]", ",", "...", "f", "%a+%", "?w", "-w", "TRUE"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, max_size=12), st.text(max_size=30))
def test_never_crashes_on_pattern_soup(pieces: list[str], message: str) -> None:
    try:
        parsed = parse(" ".join(pieces))
    except PatternError:
        return
    parsed.match(message)
    parsed.match(json.dumps({"a": 1, "b": [message]}))
