"""Parser and evaluator of filter patterns (see the package docstring for the syntax)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from vigil.model.logfields import parse_object


class PatternError(ValueError):
    """A filter pattern that cannot be parsed; the message names the position."""


# --- values ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Value:
    """A literal on the right of a comparison: number, string (with * wildcards) or regex."""

    text: str
    number: float | None = None
    regex: re.Pattern[str] | None = None
    glob: re.Pattern[str] | None = None

    @staticmethod
    def of(text: str, quoted: bool) -> Value:
        if len(text) >= 2 and text.startswith("%") and text.endswith("%"):
            try:
                return Value(text, regex=re.compile(text[1:-1]))
            except re.error as exc:
                raise PatternError(f"invalid regular expression {text}: {exc}") from None
        number = None
        if not quoted:
            try:
                number = float(text)
            except ValueError:
                number = None
        glob = None
        if "*" in text:
            glob = re.compile("^" + ".*".join(re.escape(p) for p in text.split("*")) + "$", re.S)
        return Value(text, number=number, glob=glob)


_OPS = ("!=", "<=", ">=", "=", "<", ">")


def _compare(actual: Any, op: str, value: Value) -> bool:
    """One comparison as CloudWatch does it: numbers numerically, strings with wildcards."""
    if actual is None:
        return op == "!="
    if value.number is not None and op in ("<", "<=", ">", ">=", "=", "!="):
        num = _as_number(actual)
        if num is not None:
            return {
                "=": num == value.number,
                "!=": num != value.number,
                "<": num < value.number,
                "<=": num <= value.number,
                ">": num > value.number,
                ">=": num >= value.number,
            }[op]
        if op not in ("=", "!="):
            return False
    if op not in ("=", "!="):
        return False
    text = actual if isinstance(actual, str) else _text(actual)
    if value.regex is not None:
        hit = value.regex.search(text) is not None
    elif value.glob is not None:
        hit = value.glob.match(text) is not None
    else:
        hit = text == value.text
    return hit if op == "=" else not hit


def _as_number(actual: Any) -> float | None:
    if isinstance(actual, bool):
        return None
    if isinstance(actual, int | float):
        return float(actual)
    if isinstance(actual, str):
        try:
            num = float(actual)
        except ValueError:
            return None
        return num if math.isfinite(num) else None
    return None


def _text(actual: Any) -> str:
    if isinstance(actual, bool):
        return "true" if actual else "false"
    if isinstance(actual, float) and actual.is_integer():
        return str(int(actual))
    return str(actual)


# --- the three forms -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Term:
    text: str
    mode: str = ""  # "" required, "?" any-of, "-" excluded
    regex: re.Pattern[str] | None = None

    def found(self, message: str) -> bool:
        if self.regex is not None:
            return self.regex.search(message) is not None
        return self.text in message


_MISSING = object()


@dataclass(frozen=True, slots=True)
class Selector:
    """``$.a.b[0]``: a path of keys (str) and indexes (int)."""

    text: str
    path: tuple[str | int, ...]

    def get(self, obj: Any) -> Any:
        node = obj
        for step in self.path:
            if isinstance(step, int):
                if not isinstance(node, list) or not -len(node) <= step < len(node):
                    return _MISSING
                node = node[step]
            else:
                if not isinstance(node, dict) or step not in node:
                    return _MISSING
                node = node[step]
        return node


@dataclass(frozen=True, slots=True)
class JsonCond:
    selector: Selector
    op: str  # a comparison operator, or "IS NULL", "IS TRUE", "IS FALSE", "NOT EXISTS", "EXISTS"
    value: Value | None = None

    def test(self, obj: dict[str, Any]) -> bool:
        actual = self.selector.get(obj)
        if self.op == "NOT EXISTS":
            return actual is _MISSING
        if self.op == "EXISTS":
            return actual is not _MISSING
        if self.op == "IS NULL":
            return actual is None
        if self.op in ("IS TRUE", "IS FALSE"):
            return actual is (self.op == "IS TRUE")
        if actual is _MISSING or isinstance(actual, dict | list):
            return False
        assert self.value is not None
        return _compare(actual, self.op, self.value)


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # "&&" or "||"
    items: tuple[Any, ...]

    def test(self, env: Any) -> bool:
        if self.op == "&&":
            return all(item.test(env) for item in self.items)
        return any(item.test(env) for item in self.items)


@dataclass(frozen=True, slots=True)
class FieldCond:
    """A condition on a named field of a space-delimited pattern."""

    name: str
    op: str
    value: Value

    def test(self, fields: dict[str, str]) -> bool:
        return _compare(fields.get(self.name), self.op, self.value)


@dataclass(frozen=True, slots=True)
class SpaceField:
    name: str  # "..." for the ellipsis
    condition: Any = None  # FieldCond or BoolOp of FieldConds


# --- the pattern ------------------------------------------------------------------------


@dataclass(slots=True)
class Pattern:
    text: str
    kind: str  # "all", "terms", "json", "space"
    terms: list[Term] = field(default_factory=list)
    json: Any = None
    space: list[SpaceField] = field(default_factory=list)

    def match(self, message: str) -> bool:
        return self.extract(message) is not None

    def extract(self, message: str) -> dict[str, Any] | None:
        """None when the message does not match; else the values the pattern names
        (``$.a.b`` or ``$field`` keys, as metric filters refer to them)."""
        if self.kind == "all":
            return {}
        if self.kind == "terms":
            return {} if self._terms_match(message) else None
        if self.kind == "json":
            obj = parse_object(message)
            if obj is None or not self.json.test(obj):
                return None
            return _JsonValues(obj)
        fields = split_fields(message)
        named = self._bind(fields)
        if named is None:
            return None
        for spec in self.space:
            if spec.condition is not None and not spec.condition.test(named):
                return None
        out: dict[str, Any] = {f"${k}": v for k, v in named.items()}
        for i, value in enumerate(fields, start=1):
            out.setdefault(f"${i}", value)
        return out

    def _terms_match(self, message: str) -> bool:
        anyof = [t for t in self.terms if t.mode == "?"]
        if anyof and not any(t.found(message) for t in anyof):
            return False
        for term in self.terms:
            if term.mode == "" and not term.found(message):
                return False
            if term.mode == "-" and term.found(message):
                return False
        return True

    def _bind(self, fields: list[str]) -> dict[str, str] | None:
        specs = self.space
        if "..." not in (s.name for s in specs):
            if len(fields) != len(specs):
                return None
            return {s.name: v for s, v in zip(specs, fields, strict=True)}
        # Ellipses absorb any number of fields: try the binding from the left greedily
        # with backtracking (patterns are short, so this stays cheap).
        return _bind_ellipsis(specs, fields, 0, 0, {})

    def value_of(self, ref: str, extracted: dict[str, Any]) -> Any:
        """A metric filter's ``$.x`` / ``$name`` reference, from ``extract``'s answer."""
        if isinstance(extracted, _JsonValues):
            return extracted.lookup(ref)
        return extracted.get(ref)

    def sql(self) -> tuple[str, dict[str, Any]]:
        """A ClickHouse condition on ``body`` that every matching row passes. Exact for term
        patterns; JSON and space-delimited patterns are checked again with ``match``."""
        if self.kind == "all":
            return "1", {}
        if self.kind == "json":
            return "startsWith(trimLeft(body), '{')", {}
        if self.kind == "space":
            return "1", {}
        params: dict[str, Any] = {}
        parts: list[str] = []
        anyof: list[str] = []
        for i, term in enumerate(self.terms):
            key = f"fp{i}"
            params[key] = term.regex.pattern if term.regex is not None else term.text
            check = (
                f"match(body, {{{key}:String}})"
                if term.regex is not None
                else f"position(body, {{{key}:String}}) > 0"
            )
            if term.mode == "?":
                anyof.append(check)
            elif term.mode == "-":
                parts.append(f"NOT {check}")
            else:
                parts.append(check)
        if anyof:
            parts.append("(" + " OR ".join(anyof) + ")")
        return (" AND ".join(parts) or "1"), params

    def exact_in_sql(self) -> bool:
        return self.kind in ("all", "terms")


class _JsonValues(dict[str, Any]):
    """The extracted values of a JSON pattern: any ``$.x`` selector, resolved on demand."""

    def __init__(self, obj: dict[str, Any]) -> None:
        super().__init__()
        self.obj = obj

    def lookup(self, ref: str) -> Any:
        try:
            selector = _parse_selector(ref, 0)[0]
        except PatternError:
            return None
        value = selector.get(self.obj)
        return None if value is _MISSING else value


def _bind_ellipsis(
    specs: list[SpaceField], fields: list[str], i: int, j: int, bound: dict[str, str]
) -> dict[str, str] | None:
    if i == len(specs):
        return bound if j == len(fields) else None
    spec = specs[i]
    if spec.name == "...":
        for k in range(len(fields), j - 1, -1):
            found = _bind_ellipsis(specs, fields, i + 1, k, bound)
            if found is not None:
                return found
        return None
    if j >= len(fields):
        return None
    trial = {**bound, spec.name: fields[j]}
    if spec.condition is not None and not spec.condition.test(trial):
        return None
    return _bind_ellipsis(specs, fields, i + 1, j + 1, trial)


def split_fields(message: str) -> list[str]:
    """Split on spaces; ``"…"`` and ``[…]`` runs are one field (without their delimiters)."""
    out: list[str] = []
    i, n = 0, len(message)
    while i < n:
        ch = message[i]
        if ch.isspace():
            i += 1
            continue
        if ch in '"[':
            close = '"' if ch == '"' else "]"
            end = message.find(close, i + 1)
            if end < 0:
                out.append(message[i + 1 :])
                break
            out.append(message[i + 1 : end])
            i = end + 1
            continue
        j = i
        while j < n and not message[j].isspace():
            j += 1
        out.append(message[i:j])
        i = j
    return out


# --- parsing -----------------------------------------------------------------------------


def parse(text: str) -> Pattern:
    stripped = text.strip()
    if not stripped:
        return Pattern(text, "all")
    if stripped.startswith("{"):
        return Pattern(text, "json", json=_JsonParser(stripped).parse())
    if stripped.startswith("["):
        return Pattern(text, "space", space=_SpaceParser(stripped).parse())
    return Pattern(text, "terms", terms=_parse_terms(stripped))


def _parse_terms(text: str) -> list[Term]:
    terms: list[Term] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        mode = ""
        if text[i] in "?-" and i + 1 < n and not text[i + 1].isspace():
            mode = text[i]
            i += 1
        if text[i] == '"':
            end = _string_end(text, i)
            terms.append(Term(_unquote(text[i : end + 1]), mode))
            i = end + 1
            continue
        if text[i] == "%":
            end = text.find("%", i + 1)
            if end < 0:
                raise PatternError(f"unterminated regular expression at position {i}")
            try:
                regex = re.compile(text[i + 1 : end])
            except re.error as exc:
                raise PatternError(f"invalid regular expression at position {i}: {exc}") from None
            terms.append(Term(text[i : end + 1], mode, regex))
            i = end + 1
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        word = text[i:j]
        if any(c in word for c in '"{}[]'):
            raise PatternError(f"unexpected character in term {word!r} at position {i}")
        terms.append(Term(word, mode))
        i = j
    if any(t.mode == "?" for t in terms) and any(t.mode == "" for t in terms):
        raise PatternError("a pattern with ?terms cannot also have required terms")
    return terms


def _string_end(text: str, start: int) -> int:
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i
        i += 1
    raise PatternError(f"unterminated string starting at position {start}")


def _unquote(quoted: str) -> str:
    return re.sub(r"\\(.)", r"\1", quoted[1:-1])


_SELECTOR_STEP = re.compile(r"\.([A-Za-z0-9_@$\-]+)|\[(-?\d+)\]|\.\"([^\"]*)\"")


def _parse_selector(text: str, pos: int) -> tuple[Selector, int]:
    if not text.startswith("$", pos):
        raise PatternError(f"expected a selector like $.field at position {pos}")
    i = pos + 1
    path: list[str | int] = []
    while i < len(text):
        match = _SELECTOR_STEP.match(text, i)
        if not match:
            break
        if match.group(1) is not None:
            path.append(match.group(1))
        elif match.group(2) is not None:
            path.append(int(match.group(2)))
        else:
            path.append(match.group(3))
        i = match.end()
    if not path:
        raise PatternError(f"expected a selector like $.field at position {pos}")
    return Selector(text[pos:i], tuple(path)), i


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self, word: str) -> bool:
        self.skip()
        return self.text.startswith(word, self.pos)

    def peek_word(self, word: str) -> bool:
        self.skip()
        end = self.pos + len(word)
        return self.text[self.pos : end].upper() == word and (
            end >= len(self.text) or not (self.text[end].isalnum() or self.text[end] == "_")
        )

    def take(self, word: str) -> None:
        if not self.peek(word):
            raise self.error(f"expected {word!r}")
        self.pos += len(word)

    def error(self, message: str) -> PatternError:
        found = self.text[self.pos : self.pos + 10] or "end of pattern"
        return PatternError(f"{message} at position {self.pos} (found {found!r})")

    def op(self) -> str:
        self.skip()
        for op in _OPS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        raise self.error("expected a comparison operator (= != < <= > >=)")

    def value(self, stop: str) -> Value:
        self.skip()
        if self.pos >= len(self.text):
            raise self.error("expected a value")
        if self.text[self.pos] == '"':
            end = _string_end(self.text, self.pos)
            raw = self.text[self.pos : end + 1]
            self.pos = end + 1
            return Value.of(_unquote(raw), quoted=True)
        if self.text[self.pos] == "%":
            end = self.text.find("%", self.pos + 1)
            if end < 0:
                raise self.error("unterminated regular expression")
            raw = self.text[self.pos : end + 1]
            self.pos = end + 1
            return Value.of(raw, quoted=False)
        start = self.pos
        while (
            self.pos < len(self.text)
            and not self.text[self.pos].isspace()
            and self.text[self.pos] not in stop
        ):
            self.pos += 1
        if start == self.pos:
            raise self.error("expected a value")
        return Value.of(self.text[start : self.pos], quoted=False)


class _JsonParser(_Scanner):
    def parse(self) -> Any:
        self.take("{")
        expr = self.or_expr()
        self.take("}")
        self.skip()
        if self.pos != len(self.text):
            raise self.error("unexpected text after '}'")
        return expr

    def or_expr(self) -> Any:
        items = [self.and_expr()]
        while self.peek("||"):
            self.pos += 2
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("||", tuple(items))

    def and_expr(self) -> Any:
        items = [self.unary()]
        while self.peek("&&"):
            self.pos += 2
            items.append(self.unary())
        return items[0] if len(items) == 1 else BoolOp("&&", tuple(items))

    def unary(self) -> Any:
        if self.peek("("):
            self.pos += 1
            expr = self.or_expr()
            self.take(")")
            return expr
        self.skip()
        selector, self.pos = _parse_selector(self.text, self.pos)
        if self.peek_word("IS"):
            self.pos += 2
            for word in ("NULL", "TRUE", "FALSE"):
                if self.peek_word(word):
                    self.pos += len(word)
                    return JsonCond(selector, f"IS {word}")
            raise self.error("expected NULL, TRUE or FALSE after IS")
        if self.peek_word("NOT"):
            self.pos += 3
            if not self.peek_word("EXISTS"):
                raise self.error("expected EXISTS after NOT")
            self.pos += 6
            return JsonCond(selector, "NOT EXISTS")
        if self.peek_word("EXISTS"):
            self.pos += 6
            return JsonCond(selector, "EXISTS")
        op = self.op()
        return JsonCond(selector, op, self.value(stop="()&|}"))


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-.]*")


class _SpaceParser(_Scanner):
    def parse(self) -> list[SpaceField]:
        self.take("[")
        fields: list[SpaceField] = []
        while True:
            fields.append(self.field())
            if self.peek(","):
                self.pos += 1
                continue
            self.take("]")
            break
        self.skip()
        if self.pos != len(self.text):
            raise self.error("unexpected text after ']'")
        names = [f.name for f in fields if f.name != "..."]
        if len(names) != len(set(names)):
            raise PatternError("a field name is used twice in the pattern")
        return fields

    def field(self) -> SpaceField:
        if self.peek("..."):
            self.pos += 3
            return SpaceField("...")
        name = self.name()
        if self.peek(",") or self.peek("]"):
            return SpaceField(name)
        conds: list[Any] = [FieldCond(name, self.op(), self.value(stop=",]&|"))]
        joins: list[str] = []
        while self.peek("&&") or self.peek("||"):
            joins.append(self.text[self.pos : self.pos + 2])
            self.pos += 2
            other = self.name()
            if other != name:
                raise self.error(f"a condition of field {name!r} names {other!r}")
            conds.append(FieldCond(name, self.op(), self.value(stop=",]&|")))
        return SpaceField(name, _combine(conds, joins))

    def name(self) -> str:
        self.skip()
        match = _NAME.match(self.text, self.pos)
        if not match:
            raise self.error("expected a field name")
        self.pos = match.end()
        return match.group(0)


def _combine(conds: list[Any], joins: list[str]) -> Any:
    """&& binds tighter than ||."""
    if not joins:
        return conds[0]
    groups: list[list[Any]] = [[conds[0]]]
    for join, cond in zip(joins, conds[1:], strict=True):
        if join == "&&":
            groups[-1].append(cond)
        else:
            groups.append([cond])
    ors = [g[0] if len(g) == 1 else BoolOp("&&", tuple(g)) for g in groups]
    return ors[0] if len(ors) == 1 else BoolOp("||", tuple(ors))
