"""The filter language of the stats API (domain/stats/filters.py): what each term means, how escapes
and lists read, which terms become equalities (that pre-aggregates answer) and which conditions, and
the sentences bad terms get."""

from __future__ import annotations

import pytest

from domain.errors import BadRequest, Invalid
from domain.stats.filters import FilterTerm, escape, event_filter, parse_filters
from storage.ports import Condition


def one(text: str) -> FilterTerm:
    (term,) = parse_filters([text])
    return term


def test_operators_lists_and_escapes() -> None:
    assert one("country==DE") == FilterTerm("country", "==", ("DE",))
    assert one("country!=DE|FR") == FilterTerm("country", "!=", ("DE", "FR"))
    assert one("page=~Blog") == FilterTerm("page", "=~", ("Blog",))
    assert one("page!~blog|docs") == FilterTerm("page", "!~", ("blog", "docs"))
    assert one(" country == DE") == FilterTerm("country", "==", (" DE",))  # values are kept as written
    assert one("source==") == FilterTerm("source", "==", ("",))  # direct visits have no source
    assert one(r"prop:tag==a\|b|c\;d|e\\") == FilterTerm("prop:tag", "==", ("a|b", "c;d", "e\\"))
    assert one(r"page==/a\b") == FilterTerm("page", "==", ("/a\\b",))  # a lone backslash is itself
    assert one("page==/x==y") == FilterTerm("page", "==", ("/x==y",))
    assert parse_filters(["country==DE;page=~blog", "trait:band!=18-24"]) == (
        FilterTerm("country", "==", ("DE",)),
        FilterTerm("page", "=~", ("blog",)),
        FilterTerm("trait:band", "!=", ("18-24",)),
    )
    assert parse_filters([r"prop:x==a\;b;country==DE"])[0].values == ("a;b",)


@pytest.mark.parametrize("value", ["a|b", "c;d", "back\\slash", "\\|", "plain", "", "x\\"])
def test_a_written_term_reads_back_the_same(value: str) -> None:
    term = FilterTerm("prop:v", "!=", (value, "other"))
    assert one(term.text()) == term
    assert escape(value).count("|") == escape(value).count("\\|")


def test_plain_equalities_stay_equalities_and_the_rest_become_conditions() -> None:
    flt = event_filter(
        "s1", 0, 10, parse_filters(["country==DE;prop:plan==pro;trait:band==a;page==/blog/*;event==signup"])
    )
    assert (flt.equals, flt.props, flt.traits, flt.path_prefix) == (
        {"country": "DE", "name": "signup"},
        {"plan": "pro"},
        {"band": "a"},
        "/blog/",
    )
    assert flt.conditions == ()
    flt = event_filter(
        "s1",
        0,
        10,
        parse_filters(["country!=DE;browser==Firefox|Safari;page=~Blog;prop:plan!~PRO;referrer!=/x*"]),
    )
    assert flt.equals == {} and flt.props == {} and flt.path_prefix == ""
    assert flt.conditions == (
        Condition(kind="field", name="country", op="is", values=("DE",), negate=True),
        Condition(kind="field", name="browser", op="is", values=("Firefox", "Safari")),
        Condition(kind="field", name="path", op="contains", values=("Blog",)),
        Condition(kind="prop", name="plan", op="contains", values=("PRO",), negate=True),
        Condition(kind="field", name="referrer", op="is", values=("/x*",), negate=True),  # * is page's only
    )
    prefixes = event_filter("s1", 0, 10, parse_filters(["page!=/blog/*|/docs/*"]))
    assert prefixes.conditions == (
        Condition(kind="field", name="path", op="starts_with", values=("/blog/", "/docs/"), negate=True),
    )
    # `event` and `name` both look at the event name: the second cannot overwrite the first.
    both = event_filter("s1", 0, 10, parse_filters(["event==signup;name==pageview"]))
    assert both.equals == {"name": "signup"}
    assert both.conditions == (Condition(kind="field", name="name", op="is", values=("pageview",)),)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("country", "is not a key, an operator and a value"),
        ("country=DE", "is not a key, an operator and a value"),
        ("country<>DE", "is not a key, an operator and a value"),
        ("==DE", "is not a key, an operator and a value"),
        ("page=~", "needs text to look for"),
        ("page!~blog|", "needs text to look for"),
        ("page==/blog/*|/about", "either whole paths or prefixes"),
    ],
)
def test_terms_that_cannot_be_read_are_bad_requests(text: str, words: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_filters([text])
    assert caught.value.status == 400 and words in caught.value.message
    assert caught.value.fields == {"filters": caught.value.message}
    assert caught.value.message[0].isupper() and caught.value.message.endswith(".")


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (["password_hash==x"], "Filters cannot look at “password_hash”"),
        (["$where==1"], "Filters cannot look at"),
        (["prop:a.b==1"], "may hold only letters, digits, _ and -"),
        (["country==" + "|".join(["DE"] * 51)], "at most 50 values"),
        (["page==/" + "x" * 600], "at most 512 characters"),
        (["country==DE;country!=FR"], "Filter on country once: list several values with |"),
        ([";".join(f"prop:p{i}==1" for i in range(21))], "at most 20 filters"),
    ],
)
def test_terms_that_break_a_rule_are_invalid(raw: list[str], words: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_filters(raw)
    assert caught.value.status == 422 and words in caught.value.message
    assert caught.value.message.endswith(".") and "[" not in caught.value.message
