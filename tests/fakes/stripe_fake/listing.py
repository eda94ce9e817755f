"""List endpoints (cursor pagination) and search endpoints (Stripe's search query language)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .errors import StripeApiError, exclusive_params, invalid_param

DEFAULT_LIMIT = 10
MAX_LIMIT = 100


def matches_range(value: int | None, condition: Any) -> bool:
    """``created=123`` or ``created[gte]=...&created[lt]=...`` style filters."""
    if condition is None:
        return True
    if value is None:
        return False
    if isinstance(condition, int):
        return value == condition
    checks = {
        "gt": lambda bound: value > bound,
        "gte": lambda bound: value >= bound,
        "lt": lambda bound: value < bound,
        "lte": lambda bound: value <= bound,
    }
    return all(checks[op](bound) for op, bound in condition.items())


def _limit(params: dict[str, Any]) -> int:
    limit = params.get("limit", DEFAULT_LIMIT)
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid_param("limit", f"Invalid limit: must be between 1 and {MAX_LIMIT}")
    return limit


def list_object(
    items: Iterable[dict[str, Any]],
    params: dict[str, Any],
    url: str,
    *,
    kind: str,
    newest_first: bool = True,
    with_total_count: bool = False,
) -> dict[str, Any]:
    """One page of ``items`` (given in creation order), as Stripe's ``list`` object.

    Stripe lists newest first; ``starting_after`` continues with older objects, ``ending_before``
    returns the page just before the cursor. Items must already be rendered and filtered.
    """
    ordered = list(items)
    if newest_first:
        ordered.reverse()
    ordered = [item for item in ordered if matches_range(item.get("created"), params.get("created"))]
    limit = _limit(params)
    starting_after = params.get("starting_after")
    ending_before = params.get("ending_before")
    if starting_after and ending_before:
        raise exclusive_params("starting_after", "ending_before")
    ids = [item["id"] for item in ordered]
    if starting_after:
        if starting_after not in ids:
            raise StripeApiError(
                400, f"No such {kind}: '{starting_after}'", code="resource_missing", param="starting_after"
            )
        after = ordered[ids.index(starting_after) + 1 :]
        page, has_more = after[:limit], len(after) > limit
    elif ending_before:
        if ending_before not in ids:
            raise StripeApiError(
                400, f"No such {kind}: '{ending_before}'", code="resource_missing", param="ending_before"
            )
        before = ordered[: ids.index(ending_before)]
        page, has_more = before[-limit:], len(before) > limit
    else:
        page, has_more = ordered[:limit], len(ordered) > limit
    result: dict[str, Any] = {"object": "list", "data": page, "has_more": has_more, "url": url}
    if with_total_count:
        result["total_count"] = len(ordered)
    return result


# ---------------------------------------------------------------------------------------------
# Search: `email:'a@b.com' AND name~"jen"`, `metadata['order']:'7'`, `created>1700000000`, `-status:"void"`
# ---------------------------------------------------------------------------------------------

SearchField = Callable[[dict[str, Any]], Any]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<clause>
            (?P<negate>-)?
            (?P<field>metadata\[\s*(?:'[^']*'|"[^"]*")\s*\]|[a-z_]+)
            (?P<op>>=|<=|:|~|>|<)
            (?P<value>'[^']*'|"[^"]*"|-?\d+(?:\.\d+)?|null)
        )
        |(?P<joiner>AND|OR)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Clause:
    negate: bool
    field: str
    metadata_key: str | None
    op: str
    value: str | float | None


def parse_query(query: str, resource: str, fields: dict[str, SearchField]) -> tuple[list[Clause], str]:
    """Parse a query into clauses and the single joiner (AND/OR) combining them."""
    if not query.strip():
        raise invalid_param("query", "The search query must not be empty.")
    tokens: list[re.Match[str]] = []
    position = 0
    while query[position:].strip():
        match = _TOKEN.match(query, position)
        if not match:
            raise invalid_param("query", f"Invalid search query: could not parse `{query[position:].strip()}`.")
        tokens.append(match)
        position = match.end()
    clauses: list[Clause] = []
    joiners: set[str] = set()
    expect_clause = True
    for token in tokens:
        if token.group("joiner"):
            if expect_clause:
                raise invalid_param("query", f"Invalid search query: unexpected `{token.group('joiner')}`.")
            joiners.add(token.group("joiner"))
            expect_clause = True
            continue
        if not expect_clause:
            joiners.add("AND")  # clauses separated only by whitespace are ANDed
        clauses.append(_clause(token, resource, fields))
        expect_clause = False
    if expect_clause:
        raise invalid_param("query", "Invalid search query: it ends with a dangling AND/OR.")
    if len(joiners) > 1:
        raise invalid_param("query", "Search queries cannot combine AND and OR clauses.")
    if len(clauses) > 10:
        raise invalid_param("query", "Search queries can have at most 10 clauses.")
    return clauses, (joiners.pop() if joiners else "AND")


def _clause(match: re.Match[str], resource: str, fields: dict[str, SearchField]) -> Clause:
    raw_field = match.group("field")
    metadata_key = None
    if raw_field.startswith("metadata["):
        metadata_key = raw_field[len("metadata[") : -1].strip()[1:-1]
        raw_field = "metadata"
    if raw_field not in fields:
        raise invalid_param(
            "query",
            f"Field `{raw_field}` is an unsupported search field for resource `{resource}`. "
            f"See https://stripe.com/docs/search#query-fields-for-{resource} for a list of supported fields.",
        )
    raw_value = match.group("value")
    value: str | float | None
    if raw_value == "null":
        value = None
    elif raw_value[0] in "'\"":
        value = raw_value[1:-1]
    else:
        value = float(raw_value)
    op = match.group("op")
    if op == "~" and (not isinstance(value, str) or len(value) < 3):
        raise invalid_param("query", "Substring matching (`~`) requires a string of at least 3 characters.")
    return Clause(bool(match.group("negate")), raw_field, metadata_key, op, value)


def _matches(obj: dict[str, Any], clause: Clause, fields: dict[str, SearchField]) -> bool:
    actual = fields[clause.field](obj)
    if clause.metadata_key is not None:
        actual = (actual or {}).get(clause.metadata_key)
    expected = clause.value
    if clause.op == ":":
        if expected is None:
            result = actual is None
        elif isinstance(actual, bool):
            result = str(actual).lower() == str(expected).lower()
        elif isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
            result = actual == expected
        else:
            result = actual is not None and str(actual).lower() == str(expected).lower()
    elif clause.op == "~":
        result = actual is not None and str(expected).lower() in str(actual).lower()
    else:
        if not isinstance(actual, (int, float)) or not isinstance(expected, (int, float)):
            result = False
        else:
            result = {
                ">": actual > expected,
                "<": actual < expected,
                ">=": actual >= expected,
                "<=": actual <= expected,
            }[clause.op]
    return not result if clause.negate else result


def search_object(
    items: Iterable[dict[str, Any]],
    params: dict[str, Any],
    url: str,
    *,
    resource: str,
    fields: dict[str, SearchField],
) -> dict[str, Any]:
    """Stripe's ``search_result`` for ``items`` (rendered, creation order); newest first.

    Unlike real Stripe (whose search index lags writes by up to a minute), results are immediate.
    """
    clauses, joiner = parse_query(params["query"], resource, fields)
    combine = all if joiner == "AND" else any
    found = [item for item in reversed(list(items)) if combine(_matches(item, c, fields) for c in clauses)]
    limit = _limit(params)
    offset = 0
    if "page" in params:
        page_token = params["page"]
        if not re.fullmatch(r"page_\d+", page_token):
            raise invalid_param("page", f"Invalid page: {page_token}")
        offset = int(page_token.removeprefix("page_"))
    page = found[offset : offset + limit]
    has_more = len(found) > offset + limit
    return {
        "object": "search_result",
        "data": page,
        "has_more": has_more,
        "next_page": f"page_{offset + limit}" if has_more else None,
        "url": url,
    }
