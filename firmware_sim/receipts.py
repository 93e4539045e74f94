"""Receipt content, as a Norwegian terminal prints it (pure: data in, lines out).

Times are shown in Europe/Oslo local time (DESIGN.md section 3), amounts as "1 234,50".
The amount line reads "BELØP NOK 123,45" on every receipt, which is what an ECR that scans the
print lines for the amount looks for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from firmware_sim.batch import Totals
from firmware_sim.cards import TOTALS_BUCKETS
from firmware_sim.codes import (
    RECEIPT_ADMIN,
    RECEIPT_CUSTOMER,
    RECEIPT_MERCHANT,
    RESULT_ABORTED,
    RESULT_CARD_BLOCKED,
    RESULT_CARD_EXPIRED,
    RESULT_DECLINED,
    RESULT_INSUFFICIENT_FUNDS,
    RESULT_LIMIT_EXCEEDED,
    RESULT_OK,
    RESULT_PIN_TRIES_EXCEEDED,
    RESULT_PIN_WRONG,
)
from firmware_sim.state import Booking

OSLO = ZoneInfo("Europe/Oslo")
DEFAULT_WIDTH = 32
SOFTWARE_VERSION = "MEDIPAY-SIM 1.0"

TITLES = {"purchase": "KJØP", "refund": "RETUR", "reversal": "ANNULLERING"}
REFUSAL_TEXTS = {
    RESULT_INSUFFICIENT_FUNDS: "IKKE DEKNING",
    RESULT_DECLINED: "AVVIST AV KORTUTSTEDER",
    RESULT_CARD_BLOCKED: "KORTET ER SPERRET",
    RESULT_LIMIT_EXCEEDED: "OVER GRENSEN FOR KORTET",
    RESULT_PIN_WRONG: "FEIL PIN",
    RESULT_PIN_TRIES_EXCEEDED: "FOR MANGE FEIL PIN",
    RESULT_CARD_EXPIRED: "KORTET ER UTLØPT",
    RESULT_ABORTED: "AVBRUTT",
}
BUCKET_NAMES = {"girocard": "girocard", "jcb": "JCB", "eurocard": "Mastercard",
                "amex": "American Express", "visa": "VISA", "diners": "Diners Club",
                "others": "BankAxept/andre"}


@dataclass(frozen=True)
class Receipt:
    receipt_type: int  # RECEIPT_MERCHANT, RECEIPT_CUSTOMER or RECEIPT_ADMIN
    lines: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return self.receipt_type == RECEIPT_ADMIN


@dataclass(frozen=True)
class Merchant:
    name: str
    address: str
    terminal_id: str
    vu_number: str


def kroner(amount: int) -> str:
    """Øre as Norwegian kroner: 123456 -> "1 234,56"."""
    sign = "-" if amount < 0 else ""
    whole, ore = divmod(abs(amount), 100)
    return f"{sign}{whole:,}".replace(",", " ") + f",{ore:02d}"


def local_time(at: datetime) -> str:
    return at.astimezone(OSLO).strftime("%d.%m.%Y %H:%M:%S")


def _center(text: str, width: int) -> str:
    return text.center(width).rstrip()


def _pair(left: str, right: str, width: int) -> str:
    gap = max(1, width - len(left) - len(right))
    return left + " " * gap + right


def _header(merchant: Merchant, width: int) -> list[str]:
    return [_center(merchant.name, width), _center(merchant.address, width), ""]


def transaction_receipts(booking: Booking, merchant: Merchant, at: datetime, *,
                         card_name: str, width: int = DEFAULT_WIDTH,
                         copy: bool = False) -> list[Receipt]:
    """Customer and merchant copy of a payment, refund or reversal, approved or not."""
    approved = booking.result_code == RESULT_OK
    body = [*_header(merchant, width)]
    if copy:
        body.append(_center("*** KOPI ***", width))
    body += [
        TITLES.get(booking.kind, booking.kind.upper()),
        f"BELØP NOK {kroner(booking.amount)}",
        "",
    ]
    if booking.masked_pan:
        body += [card_name, booking.masked_pan]
        if booking.entry:
            body.append("Kontaktløs" if booking.entry == "contactless" else "Brikke")
    body += [
        _pair("Terminal", merchant.terminal_id, width),
        _pair("Brukersted", merchant.vu_number, width),
        local_time(at),
        _pair(f"Ref {booking.trace:06d}",
              f"Kvitt. {booking.receipt:04d}" if booking.receipt is not None else "", width),
    ]
    if booking.original_receipt is not None:
        body.append(f"Annullerer kvitt. {booking.original_receipt:04d}")
    if approved and booking.auth_code:
        body.append(f"Aut.kode {booking.auth_code}")
    if approved:
        body.append("GODKJENT")
    else:
        body += [REFUSAL_TEXTS.get(booking.result_code, f"AVVIST ({booking.result_code:02X})"),
                 "IKKE BELASTET"]
    customer = [*body, "", _center("KUNDENS KVITTERING", width),
                _center("Behold kvitteringen", width)]
    merchant_copy = [*body, "", _center("BRUKERSTEDETS KVITTERING", width)]
    return [Receipt(RECEIPT_CUSTOMER, tuple(customer)),
            Receipt(RECEIPT_MERCHANT, tuple(merchant_copy))]


def end_of_day_receipt(summary: Totals, merchant: Merchant, at: datetime, batch: int,
                       trace: int, *, width: int = DEFAULT_WIDTH) -> Receipt:
    lines = [
        *_header(merchant, width),
        "DAGSOPPGJØR",
        _pair("Terminal", merchant.terminal_id, width),
        _pair("Bunke", f"{batch:04d}", width),
        local_time(at),
        _pair("Ref", f"{trace:06d}", width),
        _pair("Kvitteringer", f"{summary.first_receipt:04d}-{summary.last_receipt:04d}", width),
        "",
    ]
    for bucket in TOTALS_BUCKETS:
        total = summary.payments[bucket]
        if total.count:
            lines.append(_pair(f"{BUCKET_NAMES[bucket]} {total.count}",
                               f"NOK {kroner(total.amount)}", width))
    lines += [
        _pair(f"Kjøp totalt {summary.count}", f"NOK {kroner(summary.amount)}", width),
        _pair(f"Retur {summary.refunds.count}", f"NOK {kroner(summary.refunds.amount)}", width),
        _pair(f"Annullert {summary.reversals.count}",
              f"NOK {kroner(summary.reversals.amount)}", width),
        f"BELØP NOK {kroner(summary.amount - summary.refunds.amount)}",
        "",
        "OPPGJØR OK",
    ]
    return Receipt(RECEIPT_ADMIN, tuple(lines))


DIAGNOSIS_NAMES = {1: "linje", 2: "utvidet", 3: "konfigurasjon", 4: "EMV-konfigurasjon",
                   5: "EP2-konfigurasjon"}


def diagnosis_receipt(merchant: Merchant, at: datetime, diagnosis_type: int,
                      online: bool, *, width: int = DEFAULT_WIDTH) -> Receipt:
    lines = [
        *_header(merchant, width),
        "DIAGNOSE",
        _pair("Type", DIAGNOSIS_NAMES.get(diagnosis_type, f"{diagnosis_type:02X}"), width),
        _pair("Terminal", merchant.terminal_id, width),
        local_time(at),
        _pair("Programvare", SOFTWARE_VERSION, width),
        _pair("Vertsforbindelse", "OK" if online else "FEIL", width),
        "",
        "DIAGNOSE OK" if online else "DIAGNOSE FEILET",
    ]
    return Receipt(RECEIPT_ADMIN, tuple(lines))
