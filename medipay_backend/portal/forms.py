"""Reading what people type into the portal's forms: kroner amounts, dates, search filters.

Input that cannot be read becomes a Norwegian message for the page, never a crash and never
a silently ignored filter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime

from medipay_backend.portal.queries import Search

# `1 234,50`, `1234.5`, `450` (kroner); a thin or no-break space may group thousands.
_KRONER = re.compile(r"^(\d{1,9})(?:[.,](\d{1,2}))?$")
# The largest amount an order can have is far below this; it only keeps integers sane.
MAX_KRONER_DIGITS = 9
MAX_TEXT = 100
MAX_PAGE = 10_000


class FormError(ValueError):
    """Input that cannot be used; the message is Norwegian, for the page."""


def parse_kroner(text: str) -> int:
    """Øre from a kroner amount as people write it."""
    compact = re.sub(r"[\s\u00a0\u202f]", "", text.strip().removesuffix("kr").strip())
    found = _KRONER.match(compact)
    if not found:
        raise FormError("Skriv beløpet i kroner, for eksempel 150 eller 150,50.")
    ore = (found.group(2) or "0").ljust(2, "0")
    return int(found.group(1)) * 100 + int(ore)


def parse_day(text: str) -> date:
    """A date from a date field (YYYY-MM-DD) or as written in Norway (DD.MM.YYYY)."""
    value = text.strip()
    for layout in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(value, layout).date()
        except ValueError:
            continue
    raise FormError(f"«{value[:20]}» er ikke en dato (dd.mm.åååå).")


def parse_search(params: Mapping[str, str], statuses: tuple[str, ...]) -> tuple[Search,
                                                                               list[str]]:
    """The filters of a transaction list from its query string, and what could not be read
    (those filters are left out, and the page says so)."""
    errors: list[str] = []
    text = params.get("q", "").strip()[:MAX_TEXT]
    amount = date_from = date_to = None
    if params.get("belop", "").strip():
        try:
            amount = parse_kroner(params["belop"])
        except FormError as exc:
            errors.append(str(exc))
    if params.get("fra", "").strip():
        try:
            date_from = parse_day(params["fra"])
        except FormError as exc:
            errors.append(str(exc))
    if params.get("til", "").strip():
        try:
            date_to = parse_day(params["til"])
        except FormError as exc:
            errors.append(str(exc))
    if date_from and date_to and date_from > date_to:
        errors.append("Fra-datoen er etter til-datoen.")
    status = params.get("status", "").strip() or None
    if status is not None and status not in statuses:
        errors.append("Ukjent status.")
        status = None
    return Search(text, amount, date_from, date_to, status, parse_page(params)), errors


def parse_page(params: Mapping[str, str]) -> int:
    """The page number of a list (`side=`); anything unreadable is the first page."""
    try:
        return min(max(int(params.get("side", "1")[:10]), 1), MAX_PAGE)
    except ValueError:
        return 1
