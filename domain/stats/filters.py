"""The stats API's filter language: parse `filters=` terms and turn them into a store's EventFilter.

A term is `<key><operator><values>`; terms are joined by `;` (or given as repeated `filters` parameters)
and must all hold.

- key: one of FILTER_FIELDS, `prop:<name>` or `trait:<name>` (names: letters, digits, `_`, `-`).
- operator: `==` is, `!=` is not, `=~` contains, `!~` does not contain. `contains` ignores the case of
  the letters A-Z (as Plausible's dashboard does; other letters compare as written, the same in every
  store); the others compare exactly. A negation keeps exactly the events its positive form drops, so
  `prop:plan!=pro` keeps events without the prop.
- values: one, or several separated by `|` (any of them: `country==DE|FR`, `page=~blog|docs`). `\\|`,
  `\\;` and `\\\\` write a literal `|`, `;` and `\\`. For `page` with `==` or `!=`, a value ending in `*` is
  a path prefix (`page==/blog/*`); a list is then all prefixes.

Filters compare each event's own fields (a visit field such as `source` is filtered event by event).
A term that cannot be read answers 400; a readable one that breaks a rule (unknown key, too long, too
many) answers 422. Every message is a sentence naming what to write instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from domain.errors import BadRequest, Invalid
from storage.event_filter_sql import check_key_name
from storage.ports import Condition, EventFilter

MAX_FILTERS = 20
MAX_VALUES = 50
MAX_VALUE_LENGTH = 512
OPERATORS = ("==", "!=", "=~", "!~")
# Filter keys and the event field each one compares.
FILTER_FIELDS = {
    "event": "name",
    "name": "name",
    "page": "path",
    "hostname": "hostname",
    "referrer": "referrer",
    "source": "source",
    "utm_source": "utm_source",
    "utm_medium": "utm_medium",
    "utm_campaign": "utm_campaign",
    "utm_term": "utm_term",
    "utm_content": "utm_content",
    "country": "country",
    "browser": "browser",
    "os": "os",
    "device": "device",
    "user_id": "user_id",
}
# The `filters` parameter as the OpenAPI document describes it.
FILTERS_HELP = (
    "Terms joined by `;` (or repeated `filters` parameters), all of which must hold: key, operator, "
    f"values. Keys: {', '.join(k for k in FILTER_FIELDS if k != 'name')}, `prop:<name>`, `trait:<name>`. "
    "Operators: `==` is, `!=` is not, `=~` contains (ignoring the case of A-Z), `!~` does not contain. "
    "Several values, any of which may match: `country==DE|FR`; `\\|`, `\\;` and `\\\\` write a "
    "literal `|`, `;` and `\\`. `page==/blog/*` matches a path prefix. Example: "
    "`country==DE|FR;page!~/admin;prop:plan!=free`. A term that cannot be read answers 400 (code "
    "`bad_filter`); an unknown key, too many values or filters answer 422."
)
_TERM = re.compile(r"\s*([^=!~\s]*)\s*(==|!=|=~|!~)?")
_ESCAPED = frozenset("\\|;")
_EXAMPLE = "country==DE, page!=/pricing, page=~blog or country==DE|FR"


@dataclass(frozen=True)
class FilterTerm:
    """One parsed term: its key, operator (one of OPERATORS) and values (one or more)."""

    key: str
    operator: str
    values: tuple[str, ...]

    @property
    def negated(self) -> bool:
        """Whether the term keeps what its positive form drops (`!=`, `!~`)."""
        return self.operator.startswith("!")

    @property
    def prefix(self) -> bool:
        """Whether the values are page prefixes (`page==/blog/*`)."""
        return self.key == "page" and self.operator in ("==", "!=") and self.values[0].endswith("*")

    def text(self) -> str:
        """The term written back in the filter language (what it parses from again)."""
        return self.key + self.operator + "|".join(escape(v) for v in self.values)

    def condition(self) -> Condition:
        """The store condition this term stands for."""
        if self.key.startswith(("prop:", "trait:")):
            kind, _, name = self.key.partition(":")
        else:
            kind, name = "field", FILTER_FIELDS[self.key]
        if self.operator in ("=~", "!~"):
            return Condition(kind=kind, name=name, op="contains", values=self.values, negate=self.negated)
        if self.prefix:
            values = tuple(v[:-1] for v in self.values)
            return Condition(kind=kind, name=name, op="starts_with", values=values, negate=self.negated)
        return Condition(kind=kind, name=name, op="is", values=self.values, negate=self.negated)


def escape(value: str) -> str:
    """A value written so that `|`, `;` and `\\` in it stay part of it."""
    return "".join("\\" + c if c in _ESCAPED else c for c in value)


def _split(text: str, separator: str) -> list[str]:
    """`text` cut at each `separator` not escaped by a backslash (escapes are kept for later)."""
    pieces: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            if following in _ESCAPED:
                current.append(char + following)
                continue
            current.append(char)
            char = following
        if char == separator:
            pieces.append("".join(current))
            current = []
        elif char:
            current.append(char)
    pieces.append("".join(current))
    return pieces


def _unescape(text: str) -> str:
    out: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append(following if following in _ESCAPED else char + following)
        else:
            out.append(char)
    return "".join(out)


def _bad(message: str) -> BadRequest:
    return BadRequest(message, code="bad_filter", fields={"filters": message})


def _invalid(message: str) -> Invalid:
    return Invalid(message, fields={"filters": message})


def _shown(text: str) -> str:
    return text if len(text) <= 40 else text[:40] + "…"


def parse_term(raw: str) -> FilterTerm:
    """One term, validated (BadRequest when it cannot be read, Invalid when it breaks a rule)."""
    found = _TERM.match(raw)
    key, operator = (found.group(1), found.group(2)) if found else ("", None)
    if not key or not operator:
        raise _bad(
            f"The filter “{_shown(raw.strip())}” is not a key, an operator and a value. Write it like "
            f"{_EXAMPLE}; the operators are == (is), != (is not), =~ (contains) and !~ (does not contain)."
        )
    if key.startswith(("prop:", "trait:")):
        try:
            check_key_name(key.partition(":")[2])
        except ValueError:
            raise _invalid(
                f"The property name in “{_shown(key)}” may hold only letters, digits, _ and -, up to 64."
            ) from None
    elif key not in FILTER_FIELDS:
        raise _invalid(
            f"Filters cannot look at “{_shown(key)}”. Use one of {', '.join(FILTER_FIELDS)}, "
            "prop:<name> or trait:<name>."
        )
    values = tuple(_unescape(v) for v in _split(raw[found.end() :], "|"))  # type: ignore[union-attr]
    if len(values) > MAX_VALUES:
        raise _invalid(f"A filter lists at most {MAX_VALUES} values; the one on {key} lists {len(values)}.")
    if any(len(v) > MAX_VALUE_LENGTH for v in values):
        raise _invalid(
            f"A filter value is at most {MAX_VALUE_LENGTH} characters long; one on {key} is longer."
        )
    term = FilterTerm(key, operator, values)
    if operator in ("=~", "!~") and not all(values):
        raise _bad(f"The contains filter on {key} needs text to look for in each of its values.")
    if key == "page" and operator in ("==", "!=") and len({v.endswith("*") for v in values}) > 1:
        raise _bad("A page filter lists either whole paths or prefixes ending in *, not both.")
    return term


def parse_filters(raw: Sequence[str]) -> tuple[FilterTerm, ...]:
    """The terms of `filters` parameters (each may hold several, `;`-separated), validated."""
    terms: list[FilterTerm] = []
    for item in raw:
        for text in _split(item, ";"):
            if text.strip():
                terms.append(parse_term(text))
    if len(terms) > MAX_FILTERS:
        raise _invalid(f"A question takes at most {MAX_FILTERS} filters; this one has {len(terms)}.")
    keys = [t.key for t in terms]
    for key in keys:
        if keys.count(key) > 1:
            raise _invalid(f"Filter on {key} once: list several values with | instead (such as {key}==a|b).")
    return tuple(terms)


def event_filter(site_id: str, start: int, end: int, terms: Sequence[FilterTerm]) -> EventFilter:
    """The store filter for a range and terms. A plain one-value `==` becomes an equality (which
    pre-aggregates can answer), one page prefix the path prefix; the rest become conditions."""
    equals: dict[str, str] = {}
    props: dict[str, str] = {}
    traits: dict[str, str] = {}
    prefix = ""
    conditions: list[Condition] = []
    for term in terms:
        condition = term.condition()
        plain = term.operator == "==" and len(term.values) == 1
        if plain and condition.op == "starts_with" and not prefix:
            prefix = condition.values[0]
            continue
        into = {"field": equals, "prop": props, "trait": traits}[condition.kind]
        if plain and condition.op == "is" and condition.name not in into:
            into[condition.name] = condition.values[0]
        else:
            conditions.append(condition)
    return EventFilter(
        site_id=site_id,
        start=start,
        end=end,
        equals=equals,
        props=props,
        traits=traits,
        path_prefix=prefix,
        conditions=tuple(conditions),
    )
