"""The composite AlarmRule language: lexer → parser → AST → evaluation.

Grammar (precedence NOT > AND > OR, keywords case-sensitive as CloudWatch's)::

    rule    := or
    or      := and ("OR" and)*
    and     := not ("AND" not)*
    not     := "NOT" not | primary
    primary := "(" rule ")" | "TRUE" | "FALSE"
             | STATE "(" name ")"
             | "AT_LEAST" "(" count "," ["NOT"] STATE "," "(" name ("," name)* ")" ")"
    STATE   := "ALARM" | "OK" | "INSUFFICIENT_DATA"
    count   := integer | number "%"
    name    := "quoted" | 'quoted' | bare text up to ")" or ","   (a name or an alarm ARN)

Errors are ``RuleError`` with the 1-based character position of the problem. Trees are
at most ``MAX_DEPTH`` deep (nesting, NOT chains and AND/OR chains alike), so that parsing,
evaluating and printing a rule never run out of stack (issue 18: 5,000 parentheses).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

MAX_LENGTH = 10_240
MAX_CHILDREN = 100
MAX_DEPTH = 100  # each level is up to 6 Python frames while parsing
STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
KEYWORDS = ("AND", "OR", "NOT", "TRUE", "FALSE", "AT_LEAST", *STATES)
_ARN = re.compile(r"^arn:aws[a-z-]*:cloudwatch:[^:]*:[^:]*:alarm:(.+)$")


class RuleError(ValueError):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.position = position


@dataclass(frozen=True, slots=True)
class Const:
    value: bool


@dataclass(frozen=True, slots=True)
class StateIs:
    state: str
    name: str  # alarm name (ARNs are reduced to the name)


@dataclass(frozen=True, slots=True)
class AtLeast:
    count: float
    percent: bool
    negate: bool
    state: str
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Or:
    left: Node
    right: Node


Node = Const | StateIs | AtLeast | Not | And | Or


def alarm_name(ref: str) -> str:
    match = _ARN.match(ref)
    return match.group(1) if match else ref


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "word", "name", "num", "(", ")", ",", "end"
    text: str
    position: int  # 1-based


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "(),":
            tokens.append(Token(c, c, i + 1))
            i += 1
        elif c in "\"'":
            end = text.find(c, i + 1)
            if end < 0:
                raise RuleError("Unterminated quoted alarm name", i + 1)
            tokens.append(Token("name", text[i + 1 : end], i + 1))
            i = end + 1
        else:
            start = i
            # a bare word or name: up to a delimiter (names may hold ':' '/' '-' '.' …)
            while i < n and not text[i].isspace() and text[i] not in "(),\"'":
                i += 1
            word = text[start:i]
            kind = "num" if re.fullmatch(r"\d+(\.\d+)?%?", word) else "word"
            tokens.append(Token(kind, word, start + 1))
    tokens.append(Token("end", "", n + 1))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.level = 0  # depth of the node being parsed

    def deeper(self, by: int, token: Token) -> None:
        if self.level + by > MAX_DEPTH:
            raise RuleError(
                f"The alarm rule is nested deeper than {MAX_DEPTH} levels", token.position
            )

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, kind: str, what: str) -> Token:
        token = self.take()
        if token.kind != kind:
            found = repr(token.text) if token.kind != "end" else "the end of the rule"
            raise RuleError(f"Expected {what} but found {found}", token.position)
        return token

    def rule(self) -> Node:
        node = self.or_()
        token = self.peek()
        if token.kind != "end":
            raise RuleError(f"Unexpected {token.text!r}", token.position)
        return node

    def or_(self) -> Node:
        return self.chain("OR", Or, self.and_)

    def and_(self) -> Node:
        return self.chain("AND", And, self.not_)

    def chain(self, word: str, make: type[And] | type[Or], operand: Callable[[], Node]) -> Node:
        # ``a OR b OR c`` is a left-deep tree: each operator is one level more.
        start = self.level
        node = operand()
        while self.peek().kind == "word" and self.peek().text == word:
            self.deeper(1, self.take())
            self.level += 1
            node = make(node, operand())
        self.level = start
        return node

    def not_(self) -> Node:
        if self.peek().kind == "word" and self.peek().text == "NOT":
            self.deeper(1, self.take())
            self.level += 1
            try:
                return Not(self.not_())
            finally:
                self.level -= 1
        return self.primary()

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "(":
            self.deeper(1, token)
            self.level += 1
            node = self.or_()
            self.level -= 1
            self.expect(")", "')'")
            return node
        if token.kind != "word":
            found = repr(token.text) if token.kind != "end" else "the end of the rule"
            raise RuleError(
                f"Expected ALARM, OK, INSUFFICIENT_DATA, AT_LEAST, TRUE, FALSE, NOT or '('"
                f" but found {found}",
                token.position,
            )
        if token.text in ("TRUE", "FALSE"):
            return Const(token.text == "TRUE")
        if token.text in STATES:
            self.expect("(", "'('")
            name = self.name()
            self.expect(")", "')'")
            return StateIs(token.text, name)
        if token.text == "AT_LEAST":
            return self.at_least()
        raise RuleError(f"Unknown function or keyword {token.text!r}", token.position)

    def name(self) -> str:
        token = self.take()
        if token.kind not in ("name", "word", "num") or not token.text:
            raise RuleError("Expected an alarm name or ARN", token.position)
        return alarm_name(token.text)

    def at_least(self) -> Node:
        self.expect("(", "'('")
        count = self.expect("num", "a count or a percentage")
        percent = count.text.endswith("%")
        value = float(count.text.rstrip("%"))
        if (percent and not 0 < value <= 100) or (not percent and value != int(value)):
            raise RuleError(f"Invalid count {count.text!r}", count.position)
        self.expect(",", "','")
        negate = False
        if self.peek().kind == "word" and self.peek().text == "NOT":
            self.take()
            negate = True
        state = self.expect("word", "ALARM, OK or INSUFFICIENT_DATA")
        if state.text not in STATES:
            raise RuleError("Expected ALARM, OK or INSUFFICIENT_DATA", state.position)
        self.expect(",", "','")
        self.expect("(", "'('")
        names = [self.name()]
        while self.peek().kind == ",":
            self.take()
            names.append(self.name())
        self.expect(")", "')'")
        self.expect(")", "')'")
        return AtLeast(value, percent, negate, state.text, tuple(names))


def parse(text: str) -> Node:
    if len(text) > MAX_LENGTH:
        raise RuleError(f"The alarm rule is longer than {MAX_LENGTH} characters", MAX_LENGTH + 1)
    return _Parser(text).rule()


def children(node: Node) -> list[str]:
    """Alarm names the rule refers to, in order of first mention."""
    out: list[str] = []

    def visit(n: Node) -> None:
        if isinstance(n, StateIs):
            out.append(n.name)
        elif isinstance(n, AtLeast):
            out.extend(n.names)
        elif isinstance(n, Not):
            visit(n.operand)
        elif isinstance(n, And | Or):
            visit(n.left)
            visit(n.right)

    visit(node)
    return list(dict.fromkeys(out))


def evaluate(node: Node, state_of: Callable[[str], str | None]) -> bool:
    """Truth of the rule; ``state_of(name)`` is a child's state (None: unknown → no match)."""
    if isinstance(node, Const):
        return node.value
    if isinstance(node, StateIs):
        return state_of(node.name) == node.state
    if isinstance(node, AtLeast):
        hits = sum((state_of(n) == node.state) != node.negate for n in node.names)
        if node.percent:
            return hits >= math.ceil(len(node.names) * node.count / 100 - 1e-9)
        return hits >= node.count
    if isinstance(node, Not):
        return not evaluate(node.operand, state_of)
    if isinstance(node, And):
        return evaluate(node.left, state_of) and evaluate(node.right, state_of)
    return evaluate(node.left, state_of) or evaluate(node.right, state_of)


def to_text(node: Node) -> str:
    """The rule written back (fully parenthesised; names quoted)."""
    if isinstance(node, Const):
        return "TRUE" if node.value else "FALSE"
    if isinstance(node, StateIs):
        return f'{node.state}("{node.name}")'
    if isinstance(node, AtLeast):
        count = f"{node.count:g}%" if node.percent else str(int(node.count))
        state = ("NOT " if node.negate else "") + node.state
        names = ", ".join(f'"{n}"' for n in node.names)
        return f"AT_LEAST({count}, {state}, ({names}))"
    if isinstance(node, Not):
        return f"NOT ({to_text(node.operand)})"
    op = "AND" if isinstance(node, And) else "OR"
    return f"({to_text(node.left)} {op} {to_text(node.right)})"


class RuleCheckError(ValueError):
    """A rule that parses but names what cannot be: a missing alarm, a cycle, too many."""


def validate(
    text: str,
    self_name: str,
    exists: Callable[[str], bool],
    rule_of: Callable[[str], str | None],
) -> Node:
    """Parse and check a composite's rule at creation: every child exists, at most
    ``MAX_CHILDREN`` children, and no composite reaches ``self_name`` again.
    ``rule_of(name)`` is a composite child's rule text (None for a metric alarm)."""
    tree = parse(text)
    names = children(tree)
    if len(names) > MAX_CHILDREN:
        raise RuleCheckError(
            f"The alarm rule references {len(names)} alarms; at most {MAX_CHILDREN} are allowed."
        )
    missing = [n for n in names if n != self_name and not exists(n)]
    if missing:
        raise RuleCheckError(
            f"Could not save the composite alarm as alarms {missing} in the alarm rule do not exist"
        )
    seen: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name == self_name:
            raise RuleCheckError(
                f"The alarm rule of {self_name} creates a cycle: {self_name} depends on itself"
            )
        if name in seen:
            continue
        seen.add(name)
        child_rule = rule_of(name)
        if child_rule is not None:
            try:
                stack.extend(children(parse(child_rule)))
            except RuleError:
                continue
    return tree
