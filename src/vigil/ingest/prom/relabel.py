"""Prometheus relabelling (``relabel_configs``, ``metric_relabel_configs``), the common
actions: ``replace`` (the default), ``keep``, ``drop``, ``labeldrop``, ``labelkeep``,
``labelmap`` — as Prometheus defines them:

* the regex is anchored at both ends (default ``(.*)``); for replace/keep/drop it is
  matched against the ``source_labels``' values joined by ``separator`` (default ``;``);
* ``replace`` writes ``replacement`` (default ``$1``, with ``$1``/``${1}``/``${name}``
  expanded from the match) into ``target_label``; an empty result removes the label; no
  match changes nothing;
* ``keep`` / ``drop`` keep or drop the whole series by the match;
* ``labeldrop`` / ``labelkeep`` / ``labelmap`` match label *names*; ``labelmap`` copies
  each matching label to the name ``replacement`` expands to.
A series whose ``__name__`` is gone after metric relabelling is dropped by the caller.
Regexes come from the operator's configuration (Python ``re``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ACTIONS = ("replace", "keep", "drop", "labeldrop", "labelkeep", "labelmap")
_GO_GROUP = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


class RelabelError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Relabel:
    action: str = "replace"
    source_labels: tuple[str, ...] = ()
    separator: str = ";"
    regex: re.Pattern[str] = re.compile("^(?:(.*))$")
    target_label: str = ""
    replacement: str = "$1"

    @classmethod
    def parse(cls, raw: Any, where: str) -> Relabel:
        if not isinstance(raw, dict):
            raise RelabelError(f"{where}: a relabel rule must be a mapping")
        unknown = set(raw) - {
            "action",
            "source_labels",
            "separator",
            "regex",
            "target_label",
            "replacement",
        }
        if unknown:
            raise RelabelError(f"{where}: unsupported relabel field(s) {sorted(unknown)}")
        action = str(raw.get("action", "replace")).lower()
        if action not in ACTIONS:
            raise RelabelError(
                f"{where}: action {action!r} is not supported (use one of {', '.join(ACTIONS)})"
            )
        try:
            regex = re.compile(f"^(?:{raw.get('regex', '(.*)')})$")
        except re.error as exc:
            raise RelabelError(f"{where}: invalid regex: {exc}") from None
        sources = raw.get("source_labels") or []
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise RelabelError(f"{where}: source_labels must be a list of label names")
        rule = cls(
            action=action,
            source_labels=tuple(sources),
            separator=str(raw.get("separator", ";")),
            regex=regex,
            target_label=str(raw.get("target_label", "")),
            replacement=str(raw.get("replacement", "$1")),
        )
        if action == "replace" and not rule.target_label:
            raise RelabelError(f"{where}: a replace rule needs target_label")
        return rule

    def expand(self, match: re.Match[str]) -> str:
        def group(m: re.Match[str]) -> str:
            key = m.group(1) or m.group(2)
            try:
                value = match.group(int(key) if key.isdigit() else key)
            except IndexError:
                return ""
            return value or ""

        return _GO_GROUP.sub(group, self.replacement)


def relabel(labels: dict[str, str], rules: Sequence[Relabel]) -> dict[str, str] | None:
    """The labels after the rules, or None when a rule dropped the series."""
    out = dict(labels)
    for rule in rules:
        if rule.action in ("replace", "keep", "drop"):
            value = rule.separator.join(out.get(s, "") for s in rule.source_labels)
            match = rule.regex.match(value)
            if rule.action == "keep" and match is None:
                return None
            if rule.action == "drop" and match is not None:
                return None
            if rule.action == "replace" and match is not None:
                target = rule.expand(match) if "$" in rule.target_label else rule.target_label
                new = rule.expand(match)
                if not target:
                    continue
                if new:
                    out[target] = new
                else:
                    out.pop(target, None)
        elif rule.action == "labeldrop":
            out = {k: v for k, v in out.items() if not rule.regex.match(k)}
        elif rule.action == "labelkeep":
            out = {k: v for k, v in out.items() if rule.regex.match(k)}
        elif rule.action == "labelmap":
            for key, value in list(out.items()):
                match = rule.regex.match(key)
                if match is not None:
                    out[rule.expand(match)] = value
    return out
