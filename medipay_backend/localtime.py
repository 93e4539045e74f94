"""Norwegian local time: for showing dates and for calendar rules, never for storing."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")


def oslo_date(moment: datetime) -> date:
    return moment.astimezone(OSLO).date()


def oslo_text(moment: datetime) -> str:
    """`05.01.2026 kl. 09:00`, as a Norwegian reader expects it."""
    local = moment.astimezone(OSLO)
    return local.strftime("%d.%m.%Y kl. %H:%M")


def kroner(amount_ore: int, space: str = "\u00a0") -> str:
    """`1 234,50 kr` from øre: comma decimals, `space` between thousands and before "kr"
    (a no-break space on pages; a plain one in SMS, which the GSM alphabet lacks the other)."""
    sign = "-" if amount_ore < 0 else ""
    kr, ore = divmod(abs(amount_ore), 100)  # divmod of a negative rounds towards -inf
    grouped = f"{kr:,}".replace(",", space)
    return f"{sign}{grouped},{ore:02d}{space}kr"
