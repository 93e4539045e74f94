"""The written OCR file is recounted from its records: it must state what it holds, and hold
what the settlement says. The recount agrees with a full parse, and catches a changed file."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import luhn

from medipay_backend.domain.ocr import OcrTransaction, build_ocr, parse_ocr
from medipay_backend.models_ledger import Settlement
from medipay_backend.settlement.files import OcrMismatchError, ocr_header, recheck_ocr

DAY = date(2026, 3, 2)


def kid(n: int) -> str:
    base = str(n).zfill(9)
    return base + luhn.calc_check_digit(base)


def settlement(transactions: list[OcrTransaction]) -> Settlement:
    return Settlement(
        id="s-1", seq=42, clinic_id="c", stream="checkout", settlement_date=DAY,
        cutoff=datetime(2026, 3, 1, 23, 0, tzinfo=UTC), currency="NOK",
        count=len(transactions),
        gross=sum(t.amount for t in transactions if not t.reversal), fees=0,
        credits=sum(t.amount for t in transactions if t.reversal), carried_in=0, total=0,
        carried_forward=0, bank_account="86011117947", files={},
    )


def write(path: Path, row: Settlement, transactions: list[OcrTransaction]) -> list[str]:
    lines = list(build_ocr(ocr_header(row), transactions))
    path.write_text("".join(f"{line}\n" for line in lines), encoding="ascii")
    return lines


transactions_strategy = st.lists(
    st.builds(OcrTransaction, st.integers(1, 10**6).map(kid), st.integers(1, 10**12),
              st.dates(date(2026, 1, 1), date(2026, 3, 1)), st.booleans()),
    max_size=30,
)


@settings(max_examples=50)
@given(transactions=transactions_strategy)
def test_the_recount_agrees_with_a_full_parse(
    tmp_path_factory: pytest.TempPathFactory, transactions: list[OcrTransaction],
) -> None:
    path = tmp_path_factory.mktemp("ocr") / "ocr.txt"
    row = settlement(transactions)
    write(path, row, transactions)
    summary = recheck_ocr(row, path)
    assert summary == parse_ocr(path.read_text(encoding="ascii")).transmission


def _amount_plus_one(lines: list[str]) -> list[str]:
    record = lines[2]
    amount = int(record[32:49]) + 1
    return [lines[0], lines[1], record[:32] + f"{amount:017d}" + record[49:], *lines[3:]]


def _without_a_transaction(lines: list[str]) -> list[str]:
    return [*lines[:2], *lines[4:]]


def _payment_as_reversal(lines: list[str]) -> list[str]:
    return [*lines[:2], *(line[:4] + "18" + line[6:] for line in lines[2:4]), *lines[4:]]


def _end_total_changed(lines: list[str]) -> list[str]:
    end = lines[-1]
    return [*lines[:-1], end[:24] + f"{int(end[24:41]) + 1:017d}" + end[41:]]


def _cut_short(lines: list[str]) -> list[str]:
    return [*lines[:2], lines[2][:79], *lines[3:]]


def _items_swapped(lines: list[str]) -> list[str]:
    return [*lines[:2], lines[3], lines[2], *lines[4:]]


def _amount_not_digits(lines: list[str]) -> list[str]:
    record = lines[2]
    return [*lines[:2], record[:32] + " " * 17 + record[49:], *lines[3:]]


def _without_the_end(lines: list[str]) -> list[str]:
    return lines[:-1]


def _a_record_after_the_end(lines: list[str]) -> list[str]:
    return [*lines, lines[2]]


def _end_record_garbled(lines: list[str]) -> list[str]:
    return [*lines[:-1], lines[-1][:8] + "x" * 72]


@pytest.mark.parametrize("change", [
    _amount_plus_one, _without_a_transaction, _payment_as_reversal, _end_total_changed,
    _cut_short, _items_swapped, _amount_not_digits, _without_the_end, _a_record_after_the_end,
    _end_record_garbled,
])
def test_a_changed_file_is_refused(
    tmp_path: Path, change: Callable[[list[str]], list[str]],
) -> None:
    transactions = [OcrTransaction(kid(n), 10_000 * n, DAY, reversal=n == 3)
                    for n in range(1, 5)]
    row = settlement(transactions)
    path = tmp_path / "ocr.txt"
    lines = write(path, row, transactions)
    recheck_ocr(row, path)
    path.write_text("".join(f"{line}\n" for line in change(lines)), encoding="ascii")
    with pytest.raises(OcrMismatchError):
        recheck_ocr(row, path)


def test_a_file_that_disagrees_with_its_settlement_is_refused(tmp_path: Path) -> None:
    transactions = [OcrTransaction(kid(n), 10_000, DAY) for n in range(1, 4)]
    path = tmp_path / "ocr.txt"
    write(path, settlement(transactions), transactions)
    row = settlement(transactions)
    row.gross += 1
    with pytest.raises(OcrMismatchError, match="expected 3 transactions"):
        recheck_ocr(row, path)
