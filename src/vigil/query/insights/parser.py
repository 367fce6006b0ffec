"""Recursive-descent parser: tokens → ``ast.Query``.

Precedence, lowest first: ``or``; ``and``; ``not``; comparisons (``= != < <= > >= =~``,
``[not] like``, ``[not] in [...]``; not chained); ``+ -``; ``* / %``; ``^`` (right
associative); unary ``-``; operands. Keywords and function names are case-insensitive.
"""

from __future__ import annotations

from vigil.query.insights import ast
from vigil.query.insights.errors import QuerySyntaxError
from vigil.query.insights.lexer import Token, tokenize
from vigil.syntax import regex

COMMANDS = (
    "fields",
    "display",
    "filter",
    "stats",
    "sort",
    "limit",
    "parse",
    "dedup",
    "unnest",
    "pattern",
    "diff",
)
DIFF_PERIODS = {
    "previousday": "previousDay",
    "previousweek": "previousWeek",
    "previousmonth": "previousMonth",
}
_COMPARISONS = ("=", "!=", "<", "<=", ">", ">=", "=~")
MAX_QUERY_LENGTH = 10_000


def parse_query(text: str) -> ast.Query:
    if len(text) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(f"the query is longer than {MAX_QUERY_LENGTH} characters")
    return _Parser(text, tokenize(text)).query()


# Bounds on an expression's shape, so that the parser, the compiler and the printer (all
# recursive) stay far inside Python's stack: parentheses, function calls and prefix
# operators nest at most MAX_NESTING deep; one chain of a binary operator (a + b + …, which
# builds one tree level per operator) holds at most MAX_CHAIN operators.
MAX_NESTING = 32
MAX_CHAIN = 100


class _Parser:
    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.i = 0
        self.level = 0

    def enter(self) -> None:
        self.level += 1
        if self.level > MAX_NESTING:
            raise self.error(f"an expression nested at most {MAX_NESTING} deep")

    def chained(self, count: int, tok: Token) -> None:
        if count > MAX_CHAIN:
            raise self.error(f"at most {MAX_CHAIN} '{tok.text}' in one chain", tok)

    # --- token helpers ----------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def is_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == "name" and not self.tok.quoted and self.tok.text.lower() in words

    def peek_word(self, offset: int, word: str) -> bool:
        tok = self.tokens[min(self.i + offset, len(self.tokens) - 1)]
        return tok.kind == "name" and not tok.quoted and tok.text.lower() == word

    def expect_op(self, op: str) -> Token:
        if not self.is_op(op):
            raise self.error(f"expected '{op}'")
        return self.advance()

    def expect_word(self, word: str) -> Token:
        if not self.is_word(word):
            raise self.error(f"expected '{word}'")
        return self.advance()

    def check_regex(self, tok: Token) -> None:
        """Refuse here, with the position, a regex the store's RE2 would refuse at run time
        (lookarounds, backreferences, ``{99999}``), so no query id is handed out for it."""
        try:
            regex.check(tok.text)
        except regex.RegexError as exc:
            raise self.error(f"a regular expression RE2 can run ({exc.reason})", tok) from None

    def error(self, expected: str, tok: Token | None = None) -> QuerySyntaxError:
        tok = tok or self.tok
        found = "end of query" if tok.kind == "end" else repr(self.text[tok.start : tok.end])
        line = self.text.count("\n", 0, tok.start) + 1
        column = tok.start - (self.text.rfind("\n", 0, tok.start) + 1) + 1
        return QuerySyntaxError(
            f"line {line}, column {column} (position {tok.start}): {expected}, found {found}",
            tok.start,
            tok.end,
        )

    # --- query and commands ---------------------------------------------------------------

    def query(self) -> ast.Query:
        source = None
        if self.is_word("source"):
            source = self.source()
            if self.tok.kind == "pipe":
                self.advance()
        commands: list[ast.Command] = []
        if self.tok.kind == "pipe":
            self.advance()
        while self.tok.kind != "end":
            commands.append(self.command())
            if self.tok.kind == "pipe":
                self.advance()
                if self.tok.kind == "end":
                    raise self.error("expected a command after '|'")
            elif self.tok.kind != "end":
                raise self.error("expected '|' or the end of the query")
        if not commands and source is None:
            raise self.error("expected a command (" + ", ".join(COMMANDS) + ")")
        return ast.Query(tuple(commands), source)

    def source(self) -> ast.Source:
        self.advance()
        if not self.is_word("loggroups"):
            raise self.error("expected logGroups(...) after SOURCE")
        self.advance()
        self.expect_op("(")
        prefixes: list[str] = []
        log_class = None
        while not self.is_op(")"):
            key = self.tok
            if key.kind != "name":
                raise self.error("expected namePrefix: [...] or class: ...")
            self.advance()
            self.expect_op(":")
            if key.text.lower() == "nameprefix":
                prefixes.extend(self.string_list())
            elif key.text.lower() == "class":
                log_class = self.string_value()
            else:
                raise self.error("expected namePrefix or class", key)
            if self.is_op(","):
                self.advance()
        self.expect_op(")")
        if not prefixes:
            raise self.error("expected logGroups(namePrefix: [...]) to name at least one prefix")
        return ast.Source(tuple(prefixes), log_class)

    def string_list(self) -> list[str]:
        if self.is_op("["):
            self.advance()
            out = [self.string_value()]
            while self.is_op(","):
                self.advance()
                out.append(self.string_value())
            self.expect_op("]")
            return out
        return [self.string_value()]

    def string_value(self) -> str:
        if self.tok.kind != "string":
            raise self.error("expected a string")
        return self.advance().text

    def command(self) -> ast.Command:
        tok = self.tok
        if tok.kind != "name" or tok.quoted or tok.text.lower() not in COMMANDS:
            raise self.error("expected a command (" + ", ".join(COMMANDS) + ")")
        name = self.advance().text.lower()
        if name == "fields":
            return ast.Fields(self.projections())
        if name == "display":
            return ast.Display(self.projections())
        if name == "filter":
            return ast.Filter(self.expr())
        if name == "stats":
            return self.stats()
        if name == "sort":
            return self.sort()
        if name == "limit":
            if self.tok.kind != "number" or not self.tok.text.isdigit():
                raise self.error("expected a whole number after limit")
            return ast.Limit(int(self.advance().text))
        if name == "parse":
            return self.parse_cmd()
        if name == "dedup":
            fields = [self.expr()]
            while self.is_op(","):
                self.advance()
                fields.append(self.expr())
            return ast.Dedup(tuple(fields))
        if name == "unnest":
            source = self.expr()
            self.expect_word("into")
            return ast.Unnest(source, self.name())
        if name == "pattern":
            if self.tok.kind in ("pipe", "end"):
                return ast.PatternCmd(ast.Field("@message"))
            return ast.PatternCmd(self.expr())
        # diff
        if self.tok.kind == "name" and self.tok.text.lower() in DIFF_PERIODS:
            return ast.Diff(DIFF_PERIODS[self.advance().text.lower()])
        if self.tok.kind not in ("pipe", "end"):
            raise self.error("expected previousDay, previousWeek, previousMonth or '|'")
        return ast.Diff()

    def name(self) -> str:
        if self.tok.kind != "name":
            raise self.error("expected a field name")
        return self.advance().text

    def projections(self) -> tuple[ast.Projection, ...]:
        items = [self.projection()]
        while self.is_op(","):
            self.advance()
            items.append(self.projection())
        return tuple(items)

    def projection(self) -> ast.Projection:
        expr = self.expr()
        alias = None
        if self.is_word("as"):
            self.advance()
            alias = self.name()
        return ast.Projection(expr, alias)

    def stats(self) -> ast.Stats:
        aggregates = [self.projection()]
        while self.is_op(","):
            self.advance()
            aggregates.append(self.projection())
        by: tuple[ast.Projection, ...] = ()
        if self.is_word("by"):
            self.advance()
            by = self.projections()
        return ast.Stats(tuple(aggregates), by)

    def sort(self) -> ast.Sort:
        keys = [self.sort_key()]
        while self.is_op(","):
            self.advance()
            keys.append(self.sort_key())
        return ast.Sort(tuple(keys))

    def sort_key(self) -> ast.SortKey:
        expr = self.expr()
        descending = False
        if self.is_word("asc", "desc"):
            descending = self.advance().text.lower() == "desc"
        return ast.SortKey(expr, descending)

    def parse_cmd(self) -> ast.Parse:
        source: ast.Expr = ast.Field("@message")
        if self.tok.kind not in ("string", "regex"):
            source = self.expr_no_compare()
        tok = self.tok
        if tok.kind == "string":
            self.advance()
            stars = tok.text.count("*")
            if stars == 0:
                raise self.error("expected a pattern with at least one '*'", tok)
            self.expect_word("as")
            names = [self.name()]
            while self.is_op(","):
                self.advance()
                names.append(self.name())
            if len(names) != stars:
                raise self.error(
                    f"the pattern has {stars} '*' but {len(names)} names follow 'as'", tok
                )
            return ast.Parse(source, ast.Str(tok.text), tuple(names))
        if tok.kind == "regex":
            self.check_regex(tok)
            self.advance()
            return ast.Parse(source, ast.Regex(tok.text))
        raise self.error('expected a "glob * pattern" or a /regular expression/')

    # --- expressions -------------------------------------------------------------------------

    def expr(self) -> ast.Expr:
        self.enter()
        left = self.and_expr()
        count = 0
        while self.is_word("or"):
            count += 1
            self.chained(count, self.advance())
            left = ast.Binary("or", left, self.and_expr())
        self.level -= 1
        return left

    def and_expr(self) -> ast.Expr:
        left = self.not_expr()
        count = 0
        while self.is_word("and"):
            count += 1
            self.chained(count, self.advance())
            left = ast.Binary("and", left, self.not_expr())
        return left

    def not_expr(self) -> ast.Expr:
        if self.is_word("not") and not self.peek_word(1, "like") and not self.peek_word(1, "in"):
            self.enter()
            self.advance()
            inner = self.not_expr()
            self.level -= 1
            return ast.Unary("not", inner)
        return self.compare()

    def compare(self) -> ast.Expr:
        left = self.additive()
        if self.tok.kind == "op" and self.tok.text in _COMPARISONS:
            op = self.advance().text
            return ast.Binary(op, left, self.additive())
        negated = False
        if self.is_word("not") and (self.peek_word(1, "like") or self.peek_word(1, "in")):
            self.advance()
            negated = True
        if self.is_word("like"):
            self.advance()
            return ast.Binary("not like" if negated else "like", left, self.additive())
        if self.is_word("in"):
            self.advance()
            self.expect_op("[")
            items: list[ast.Expr] = []
            if not self.is_op("]"):
                items.append(self.additive())
                while self.is_op(","):
                    self.advance()
                    items.append(self.additive())
            self.expect_op("]")
            return ast.InList(left, tuple(items), negated)
        if negated:
            raise self.error("expected like or in after not")
        return left

    def expr_no_compare(self) -> ast.Expr:
        return self.additive()

    def additive(self) -> ast.Expr:
        left = self.multiplicative()
        count = 0
        while self.is_op("+", "-"):
            count += 1
            tok = self.advance()
            self.chained(count, tok)
            left = ast.Binary(tok.text, left, self.multiplicative())
        return left

    def multiplicative(self) -> ast.Expr:
        left = self.power()
        count = 0
        while self.is_op("*", "/", "%"):
            count += 1
            tok = self.advance()
            self.chained(count, tok)
            left = ast.Binary(tok.text, left, self.power())
        return left

    def power(self) -> ast.Expr:
        base = self.unary()
        if self.is_op("^"):
            self.enter()
            self.advance()
            exponent = self.power()
            self.level -= 1
            return ast.Binary("^", base, exponent)
        return base

    def unary(self) -> ast.Expr:
        if self.is_op("-"):
            self.enter()
            self.advance()
            inner = self.unary()
            self.level -= 1
            return ast.Unary("-", inner)
        return self.operand()

    def operand(self) -> ast.Expr:
        tok = self.tok
        if tok.kind == "number":
            self.advance()
            text = tok.text
            if "." in text or "e" in text.lower():
                return ast.Num(float(text))
            return ast.Num(int(text))
        if tok.kind == "duration":
            self.advance()
            digits = "".join(ch for ch in tok.text if ch.isdigit())
            return ast.Duration(int(digits), tok.text[len(digits) :])
        if tok.kind == "string":
            self.advance()
            return ast.Str(tok.text)
        if tok.kind == "regex":
            self.check_regex(tok)
            self.advance()
            return ast.Regex(tok.text)
        if self.is_op("("):
            self.advance()
            inner = self.expr()
            self.expect_op(")")
            return inner
        if tok.kind == "name":
            self.advance()
            if self.is_op("(") and not tok.quoted:
                return self.call(tok)
            return ast.Field(tok.text)
        raise self.error("expected a field, a value or '('")

    def call(self, name: Token) -> ast.Call:
        self.expect_op("(")
        args: list[ast.Expr] = []
        if not self.is_op(")"):
            args.append(self.argument())
            while self.is_op(","):
                self.advance()
                args.append(self.argument())
        self.expect_op(")")
        return ast.Call(name.text.lower(), tuple(args))

    def argument(self) -> ast.Expr:
        if (
            self.is_op("*")
            and self.tokens[self.i + 1].kind == "op"
            and (self.tokens[self.i + 1].text in (")", ","))
        ):
            self.advance()
            return ast.Star()
        return self.expr()
