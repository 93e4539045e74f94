"""OCR giro files: the Nets sample parses, our files round-trip, corrupted end records are
caught, and writing streams."""

from __future__ import annotations

import tracemalloc
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from netsgiro import TransactionType
from stdnum import luhn

from medipay_backend.domain.ocr import (
    AssignmentSummary,
    OcrFormatError,
    OcrHeader,
    OcrInputError,
    OcrPayment,
    OcrTotalsError,
    OcrTransaction,
    TransmissionSummary,
    build_ocr,
    iter_ocr,
    iter_payments,
    kid_is_valid,
    ocr_text,
    parse_ocr,
)

TESTDATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "testdata"
SAMPLE = TESTDATA / "ocr_giro_sample_from_nets.txt"
HEADER = OcrHeader(
    transmission_number="0000042",
    data_recipient="00010200",
    agreement_id="001008566",
    assignment_number="0000001",
    assignment_account="99991042764",
    nets_date=date(2026, 1, 6),
)


def luhn_kid(base: str) -> str:
    return base + luhn.calc_check_digit(base)


def sample_lines() -> list[str]:
    return SAMPLE.read_text(encoding="ascii").splitlines()


def test_the_nets_sample_parses_and_its_totals_check() -> None:
    parsed = parse_ocr(SAMPLE.read_text(encoding="ascii"))
    assert parsed.transmission == TransmissionSummary(
        number="0170031",
        data_transmitter="00008080",
        data_recipient="00010200",
        transactions=20,
        records=45,
        total_amount=5_144_900,
        nets_date=date(1992, 1, 20),
    )
    [assignment] = parsed.assignments
    assert (assignment.number, assignment.agreement_id, assignment.account) == (
        "0000002", "001008566", "99991042764",
    )
    assert (assignment.transactions, assignment.records) == (20, 43)
    assert len(parsed.payments) == 20
    assert sum(p.amount for p in parsed.payments) == 5_144_900
    first = parsed.payments[0]
    assert first.transaction_type is TransactionType.PURCHASE_WITH_TEXT
    assert (first.kid, first.amount, first.text) == ("0000531", 102_000, "Foo bar baz")
    assert first.kid_valid  # the sample's KIDs check by modulus 11
    assert first.bank_date == date(1992, 1, 16)
    assert first.debit_account == "99990512341"
    assert not first.reversal and not first.negative_sign
    assert parsed.payments[8].bank_date is None  # zero-filled in the file
    assert [p.transaction_number for p in parsed.payments] == list(range(1, 21))


def test_streaming_yields_payments_then_summaries() -> None:
    items = list(iter_ocr(sample_lines()))
    assert all(isinstance(i, OcrPayment) for i in items[:20])
    assert isinstance(items[20], AssignmentSummary)
    assert isinstance(items[21], TransmissionSummary)
    assert len(list(iter_payments(sample_lines()))) == 20


def replace_field(lines: list[str], record: str, start: int, width: int, value: int) -> None:
    index = next(i for i, line in enumerate(lines) if line[6:8] == record)
    line = lines[index]
    lines[index] = line[:start] + str(value).zfill(width) + line[start + width :]


@pytest.mark.parametrize(
    ("record", "start", "width", "value", "field"),
    [
        ("88", 8, 8, 21, "transactions"),
        ("88", 16, 8, 44, "records"),
        ("88", 24, 17, 5_144_901, "total amount"),
        ("89", 8, 8, 19, "transactions"),
        ("89", 16, 8, 46, "records"),
        ("89", 24, 17, 1, "total amount"),
        ("88", 47, 6, 190192, "earliest date"),
        ("88", 53, 6, 210192, "latest date"),
    ],
)
def test_corrupted_end_records_raise(
    record: str, start: int, width: int, value: int, field: str
) -> None:
    lines = sample_lines()
    replace_field(lines, record, start, width, value)
    with pytest.raises(OcrTotalsError) as caught:
        parse_ocr(lines)
    assert caught.value.field == field
    assert caught.value.line_number == (44 if record == "88" else 45)


def test_a_changed_amount_is_caught_by_the_totals() -> None:
    lines = sample_lines()
    replace_field(lines, "30", 32, 17, 102_001)
    with pytest.raises(OcrTotalsError, match="total amount"):
        parse_ocr(lines)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda ls: ls[1:], "start with record type 10"),
        (lambda ls: ls[:-1], "ends before"),
        (lambda ls: [*ls, ls[0]], "after the end"),
        (lambda ls: [ls[0], *ls[2:]], "assignment start"),
        (lambda ls: ls[:3] + [ls[6]] + ls[3:], "amount items of one transaction disagree"),
        (lambda ls: ls[:3] + ls[4:], "item 3 only follows item 2"),
        (lambda ls: ls[:2] + ls[3:], "without item 1"),
        (lambda ls: ls[:4] + ls[5:], "item 1 before"),
        (lambda ls: ls[:2] + [ls[5], ls[6]] + ls[2:], "must increase"),
        (lambda ls: [ls[0][:79], *ls[1:]], "80"),
        (lambda ls: [ls[0].replace("NY000010", "NY000077"), *ls[1:]], "not OCR giro"),
        (lambda ls: [ls[0], ls[1].replace("NY0900", "NY2100"), *ls[2:]], "only OCR giro"),
        (lambda ls: [ls[0], ls[1], ls[2].replace("200192", "320192"), *ls[3:]], "line 3"),
    ],
)
def test_malformed_files_raise_format_errors(mutate: object, message: str) -> None:
    lines = mutate(sample_lines())  # type: ignore[operator]
    with pytest.raises(OcrFormatError, match=message):
        parse_ocr(lines)


def test_kid_check_digits() -> None:
    assert kid_is_valid("12345682")  # modulus 10
    assert kid_is_valid("123456785")  # modulus 11, the manual's example
    assert not kid_is_valid("12345683")
    assert not kid_is_valid("1")
    assert not kid_is_valid("12a4")
    assert not kid_is_valid("1" * 26)
    # 12345682 in Arabic-Indic digits: str.isdigit() says yes, but an OCR file is ASCII.
    assert not kid_is_valid("\u0661\u0662\u0663\u0664\u0665\u0666\u0668\u0662")


def test_build_a_small_file() -> None:
    transactions = [
        OcrTransaction(luhn_kid("000000001"), 45_000, date(2026, 1, 5)),
        OcrTransaction(luhn_kid("000000002"), 12_500, date(2026, 1, 2), reversal=True),
    ]
    text = ocr_text(HEADER, transactions)
    lines = text.splitlines()
    assert text.endswith("\n") and all(len(line) == 80 for line in lines)
    assert [line[6:8] for line in lines] == ["10", "20", "30", "31", "30", "31", "88", "89"]
    assert lines[0] == "NY000010" "00008080" "0000042" "00010200" + "0" * 49
    assert lines[2][4:6] == "19" and lines[4][4:6] == "18"  # purchase / reversal with KID
    parsed = parse_ocr(text)
    assert [(p.kid, p.amount, p.nets_date, p.reversal) for p in parsed.payments] == [
        (t.kid, t.amount, t.day, t.reversal) for t in transactions
    ]
    [assignment] = parsed.assignments
    assert (assignment.earliest, assignment.latest) == (date(2026, 1, 2), date(2026, 1, 5))
    assert parsed.transmission.total_amount == 57_500  # reversals are added, as the spec says
    assert all(p.debit_account is None for p in parsed.payments)  # zero-filled


def test_an_empty_settlement_is_a_valid_file() -> None:
    parsed = parse_ocr(ocr_text(HEADER, []))
    assert parsed.payments == () and parsed.transmission.records == 4


@pytest.mark.parametrize(
    ("transaction", "header"),
    [
        (OcrTransaction("12345683", 100, date(2026, 1, 5)), HEADER),
        (OcrTransaction("12345682", 0, date(2026, 1, 5)), HEADER),
        (OcrTransaction("12345682", 100, date(2026, 1, 5)),
         OcrHeader("42", "00010200", "001008566", "0000001", "99991042764", date(2026, 1, 6))),
    ],
)
def test_invalid_input_is_refused(transaction: OcrTransaction, header: OcrHeader) -> None:
    with pytest.raises(OcrInputError):
        list(build_ocr(header, [transaction]))


kids = st.integers(1, 10**15).map(lambda n: luhn_kid(str(n).zfill(9)))
transactions = st.builds(
    OcrTransaction,
    kid=kids,
    amount=st.integers(1, 10**11),
    day=st.dates(date(2000, 1, 1), date(2068, 12, 31)),  # DDMMYY must read back the same
    reversal=st.booleans(),
)


@given(st.lists(transactions, max_size=30))
def test_build_then_parse_round_trips(items: list[OcrTransaction]) -> None:
    parsed = parse_ocr(build_ocr(HEADER, items))
    assert [OcrTransaction(p.kid or "", p.amount, p.nets_date, p.reversal)
            for p in parsed.payments] == items
    assert all(p.kid_valid for p in parsed.payments)
    assert parsed.transmission.transactions == len(items)
    assert parsed.transmission.records == 2 * len(items) + 4
    assert parsed.transmission.total_amount == sum(t.amount for t in items)


def test_writing_streams_in_constant_memory() -> None:
    """Memory for 10,000 transactions stays far below the file's size: nothing is kept
    (a few kilobytes, the same for 1,000 or 1,000,000 transactions)."""
    count = 10_000

    def source() -> object:
        for n in range(count):
            yield OcrTransaction(luhn_kid(str(n).zfill(9)), 100 + n, date(2026, 1, 5))

    tracemalloc.start()
    try:
        size = lines = 0
        for line in build_ocr(HEADER, source()):  # type: ignore[arg-type]
            size += len(line) + 1
            lines += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == 2 * count + 4
    assert size > 1_600_000
    assert peak < 64_000
