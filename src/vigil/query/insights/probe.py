"""Ask the store, at StartQuery, whether a compiled query can run: ``EXPLAIN PLAN`` of each
statement makes ClickHouse resolve names and types without reading a row.

Contract: ``check(store, request)`` returns when the store accepts every statement (or
does not answer within ``PROBE_TIMEOUT``: the run itself is bounded anyway); otherwise it
raises ``QueryCompileError`` naming the first command that cannot run, with its position
in the query text, and a reason in the language's words — never the store's text, which
is logged instead (issue 18 item 11: such queries got a query id, then ended ``Failed``
with ClickHouse's "Positional argument number …" or "Unknown expression identifier").
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from vigil.query.insights.errors import QueryCompileError
from vigil.query.insights.lexer import tokenize
from vigil.store.interface import QueryTimeout, Store, StoreError

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 5.0

# ClickHouse error codes → what the user did, in Insights terms.
_REASONS = {
    36: "an argument is out of range",
    42: "a function is given the wrong number of arguments",
    43: "a function or operator is given a value of the wrong type",
    44: "a function or operator is given a value of the wrong type",
    47: "it names something that does not exist here",
    53: "values of incompatible types are combined",
    62: "it cannot be read",
    69: "an argument is out of range",
    70: "a value cannot be converted to the type needed",
    184: "an aggregate function is used where it cannot be",
    215: "a field is used that is neither grouped by nor aggregated",
    386: "values of incompatible types are combined",
}
_CODE = re.compile(r"Code: (\d+)")


Statements = list[tuple[str, dict[str, object]]]


async def check(
    store: Store,
    text: str,
    statements: Statements,
    commands: int,
    prefix: Callable[[int], Statements | None],
) -> None:
    """``statements`` are the compiled query's; ``prefix(i)`` compiles its first ``i`` of
    ``commands`` commands (None when that prefix alone does not compile)."""
    failure = await _first_failure(store, statements)
    if failure is None:
        return
    # The first prefix of the query that fails ends with the command to name.
    index = commands - 1
    for i in range(1, commands):
        part = prefix(i)
        if part is not None and await _first_failure(store, part) is not None:
            index = i - 1
            break
    start, end = _command_span(text, index)
    code = _CODE.search(failure)
    reason = _REASONS.get(int(code.group(1)) if code else 0, "the store cannot run it")
    log.info("Insights query refused at start (command %d): %s", index + 1, failure[:500])
    raise QueryCompileError(
        f"the command at position {start} ({text[start:end].strip()[:80]!r}) cannot run: {reason}",
        start,
        end,
    )


async def _first_failure(store: Store, statements: Statements) -> str | None:
    for sql, params in statements:
        try:
            await store.query(f"EXPLAIN PLAN {sql}", params, timeout=PROBE_TIMEOUT)
        except QueryTimeout:
            return None
        except StoreError as exc:
            return str(exc)
    return None


def _command_span(text: str, index: int) -> tuple[int, int]:
    """Where the ``index``-th command (0-based, split at top-level ``|``) lies in ``text``."""
    pipes = [t.start for t in tokenize(text) if t.kind == "pipe"]
    bounds = [-1, *pipes, len(text)]
    index = min(index, len(bounds) - 2)
    start = bounds[index] + 1
    while start < len(text) and text[start].isspace():
        start += 1
    return start, bounds[index + 1]
