"""OCR giro files in the Nets format: read incoming payments, write settlement reports.

Records are parsed and formatted with the record classes of `netsgiro`, one line at a time.
Its higher-level `Transmission` objects are not used: they keep every transaction in memory
(a settlement file may hold a million) and they do not check the end records' counts and
totals, which this module does for every assignment (record 88) and the transmission (89):
number of transactions, number of records and total amount, plus the assignment's earliest
and latest Nets dates. A file that disagrees with itself raises `OcrTotalsError`.

Both directions stream: `iter_ocr` yields payments as their records complete and
`build_ocr` yields lines while it counts, so neither holds the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from netsgiro import ServiceCode, TransactionType
from netsgiro.records import (
    AssignmentEnd,
    AssignmentStart,
    Record,
    TransactionAmountItem1,
    TransactionAmountItem2,
    TransactionAmountItem3,
    TransmissionEnd,
    TransmissionStart,
)

from .kid import KID_SCHEMES, kid_error

RECORD_LENGTH = 80
NETS_ID = "00008080"  # the data transmitter id Nets puts in files it sends
# Field widths of the end records and of the transaction number, which bound a file.
MAX_TOTAL_AMOUNT = 10**17 - 1
MAX_TRANSACTIONS = 10**7 - 1
_WITH_TEXT = (TransactionType.REVERSING_WITH_TEXT, TransactionType.PURCHASE_WITH_TEXT)
_REVERSALS = (TransactionType.REVERSING_WITH_KID, TransactionType.REVERSING_WITH_TEXT)
_RECORD_CLASSES: dict[str, type[Record]] = {
    "10": TransmissionStart,
    "20": AssignmentStart,
    "30": TransactionAmountItem1,
    "31": TransactionAmountItem2,
    "32": TransactionAmountItem3,
    "88": AssignmentEnd,
    "89": TransmissionEnd,
}


class OcrError(Exception):
    """Base of the errors of this module."""


class OcrFormatError(OcrError):
    """A line is malformed or a record is out of place. `line_number` counts from 1."""

    def __init__(self, line_number: int, message: str) -> None:
        super().__init__(f"line {line_number}: {message}")
        self.line_number = line_number


class OcrTotalsError(OcrError):
    """An end record's count or total disagrees with the records before it."""

    def __init__(
        self, line_number: int, record: str, field: str, stated: object, counted: object
    ) -> None:
        super().__init__(f"line {line_number}: {record} states {field} {stated}, counted {counted}")
        self.line_number = line_number
        self.record = record
        self.field = field
        self.stated = stated
        self.counted = counted


class OcrInputError(OcrError):
    """Data given to `build_ocr` cannot be written (bad KID, amount or header field)."""


def kid_is_valid(kid: str) -> bool:
    """A KID of 2-25 digits whose check digit is right by MOD10 or by MOD11.

    Which scheme a KID uses is the payee's agreement with its bank, which a file does not
    say, so either is accepted. The OCR field holds digits only, so a MOD11 '-' never fits.
    """
    return (
        kid.isascii()
        and kid.isdigit()
        and any(kid_error(kid, scheme) is None for scheme in KID_SCHEMES)
    )


# -- reading ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OcrPayment:
    """One transaction (amount items 1, 2 and maybe 3) of an incoming file."""

    assignment_number: str
    transaction_number: int
    transaction_type: TransactionType
    nets_date: date
    amount: int  # øre; a reversal is stated as a positive amount too, see `reversal`
    kid: str | None
    kid_valid: bool
    reversal: bool  # transaction types 18 and 20
    negative_sign: bool  # the sign field held "-" (a credit note, if the agreement allows it)
    bank_date: date | None
    debit_account: str | None
    archive_reference: str | None
    text: str | None  # free text from a terminal, types 20 and 21


@dataclass(frozen=True, slots=True)
class AssignmentSummary:
    """An assignment's end record, after its figures were checked against the records."""

    number: str
    agreement_id: str | None
    account: str
    transactions: int
    records: int
    total_amount: int
    nets_date: date | None
    earliest: date | None
    latest: date | None


@dataclass(frozen=True, slots=True)
class TransmissionSummary:
    """The transmission's start and end records, after the end record was checked."""

    number: str
    data_transmitter: str
    data_recipient: str
    transactions: int
    records: int
    total_amount: int
    nets_date: date | None


@dataclass(frozen=True, slots=True)
class OcrFile:
    transmission: TransmissionSummary
    assignments: tuple[AssignmentSummary, ...]
    payments: tuple[OcrPayment, ...]


OcrItem = OcrPayment | AssignmentSummary | TransmissionSummary


def _record(line_number: int, raw: str) -> Record:
    line = raw.rstrip("\r\n")
    if len(line) != RECORD_LENGTH:
        raise OcrFormatError(line_number, f"{len(line)} characters, records have 80")
    cls = _RECORD_CLASSES.get(line[6:8])
    if cls is None:
        raise OcrFormatError(line_number, f"record type {line[6:8]!r} is not OCR giro")
    try:
        return cls.from_string(line)
    except (ValueError, TypeError) as exc:  # netsgiro's pattern, converter or validator
        raise OcrFormatError(line_number, str(exc)) from exc


def _check(line_number: int, record: str, field: str, stated: object, counted: object) -> None:
    if stated != counted:
        raise OcrTotalsError(line_number, record, field, stated, counted)


class _Assignment:
    """Running counts of the open assignment while its records stream past."""

    def __init__(self, start: AssignmentStart) -> None:
        self.start = start
        self.records = 1
        self.transactions = 0
        self.total = 0
        self.earliest: date | None = None
        self.latest: date | None = None
        self.last_number = 0
        self.item1: TransactionAmountItem1 | None = None
        self.item2: TransactionAmountItem2 | None = None

    def payment(self, item3: TransactionAmountItem3 | None) -> OcrPayment:
        item1, item2 = self.item1, self.item2
        if item1 is None or item2 is None:  # pragma: no cover - guarded by the caller
            raise OcrError("payment() before amount items 1 and 2")
        self.item1 = self.item2 = None
        self.transactions += 1
        self.total += item1.amount
        day = item1.nets_date
        self.earliest = day if self.earliest is None or day < self.earliest else self.earliest
        self.latest = day if self.latest is None or day > self.latest else self.latest
        kid = item1.kid
        return OcrPayment(
            assignment_number=self.start.assignment_number,
            transaction_number=item1.transaction_number,
            transaction_type=item1.transaction_type,
            nets_date=day,
            amount=item1.amount,
            kid=kid,
            kid_valid=kid is not None and kid_is_valid(kid),
            reversal=item1.transaction_type in _REVERSALS,
            negative_sign=item1.sign == "-",
            bank_date=item2.bank_date,
            debit_account=None if set(item2.debit_account or "0") == {"0"} else item2.debit_account,
            archive_reference=item2.reference,
            text=None if item3 is None else item3.text,
        )


def iter_ocr(lines: Iterable[str]) -> Iterator[OcrItem]:
    """Stream a file: each payment as soon as its records are read, then each checked
    assignment summary, and last the checked transmission summary.

    Blank lines are skipped. A mismatch raises when its end record is reached, so a caller
    that books payments while streaming must treat them as provisional until the end.
    """
    start: TransmissionStart | None = None
    assignment: _Assignment | None = None
    done = False
    transactions = records = total = 0
    line_number = 0
    for line_number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        if done:
            raise OcrFormatError(line_number, "a record after the end of the transmission")
        record = _record(line_number, raw)
        if start is None:
            if not isinstance(record, TransmissionStart):
                raise OcrFormatError(line_number, "a file must start with record type 10")
            start = record
        elif assignment is None:
            if isinstance(record, AssignmentStart):
                if record.service_code != ServiceCode.OCR_GIRO:
                    raise OcrFormatError(line_number, "only OCR giro assignments are supported")
                assignment = _Assignment(record)
            elif isinstance(record, TransmissionEnd):
                _check(line_number, "transmission end", "transactions", record.num_transactions,
                       transactions)
                _check(line_number, "transmission end", "records", record.num_records,
                       records + 2)
                _check(line_number, "transmission end", "total amount", record.total_amount,
                       total)
                done = True
                yield TransmissionSummary(
                    start.transmission_number, start.data_transmitter, start.data_recipient,
                    transactions, records + 2, total, record.nets_date,
                )
            else:
                raise OcrFormatError(line_number, "expected an assignment start or the end")
        else:
            payment = _transaction_record(line_number, record, assignment)
            if payment is not None:
                yield payment
            elif isinstance(record, AssignmentEnd):
                summary = _close(line_number, record, assignment)
                transactions += summary.transactions
                records += summary.records
                total += summary.total_amount
                assignment = None
                yield summary
    if not done:
        raise OcrFormatError(line_number + 1, "the file ends before the transmission end (89)")


def _transaction_record(line_number: int, record: Record, a: _Assignment) -> OcrPayment | None:
    """Feed an amount item to the open assignment; a payment when a transaction completes."""
    if isinstance(record, AssignmentEnd):
        if a.item1 is not None:
            raise OcrFormatError(line_number, "assignment ends inside a transaction")
        return None
    if not isinstance(
        record, TransactionAmountItem1 | TransactionAmountItem2 | TransactionAmountItem3
    ):
        raise OcrFormatError(line_number, "expected a transaction record or assignment end")
    if record.service_code != ServiceCode.OCR_GIRO:
        raise OcrFormatError(line_number, "a transaction of another service")
    a.records += 1
    if isinstance(record, TransactionAmountItem1):
        if a.item1 is not None:
            raise OcrFormatError(line_number, "amount item 1 before the last one was complete")
        if record.transaction_number <= a.last_number:
            raise OcrFormatError(line_number, "transaction numbers must increase")
        a.item1, a.last_number = record, record.transaction_number
        return None
    item1 = a.item1
    if item1 is None:
        raise OcrFormatError(line_number, "amount item 2 or 3 without item 1")
    if (record.transaction_number, record.transaction_type) != (
        item1.transaction_number, item1.transaction_type
    ):
        raise OcrFormatError(line_number, "amount items of one transaction disagree")
    if isinstance(record, TransactionAmountItem2):
        if a.item2 is not None:
            raise OcrFormatError(line_number, "a second amount item 2")
        a.item2 = record
        return None if item1.transaction_type in _WITH_TEXT else a.payment(None)
    if a.item2 is None or item1.transaction_type not in _WITH_TEXT:
        raise OcrFormatError(line_number, "amount item 3 only follows item 2 of types 20/21")
    return a.payment(record)


def _close(line_number: int, end: AssignmentEnd, a: _Assignment) -> AssignmentSummary:
    a.records += 1
    name = f"assignment {a.start.assignment_number} end"
    _check(line_number, name, "transactions", end.num_transactions, a.transactions)
    _check(line_number, name, "records", end.num_records, a.records)
    _check(line_number, name, "total amount", end.total_amount or 0, a.total)
    if end.nets_date_earliest is not None:
        _check(line_number, name, "earliest date", end.nets_date_earliest, a.earliest)
    if end.nets_date_latest is not None:
        _check(line_number, name, "latest date", end.nets_date_latest, a.latest)
    return AssignmentSummary(
        a.start.assignment_number, a.start.agreement_id, a.start.assignment_account,
        a.transactions, a.records, a.total, end.nets_date, a.earliest, a.latest,
    )


def iter_payments(lines: Iterable[str]) -> Iterator[OcrPayment]:
    """Only the payments of `iter_ocr` (the checks still run)."""
    for item in iter_ocr(lines):
        if isinstance(item, OcrPayment):
            yield item


def parse_ocr(data: str | Iterable[str]) -> OcrFile:
    """Read a whole file into memory (fine for the daily incoming files)."""
    lines = data.splitlines() if isinstance(data, str) else data
    payments: list[OcrPayment] = []
    assignments: list[AssignmentSummary] = []
    transmission: TransmissionSummary | None = None
    for item in iter_ocr(lines):
        if isinstance(item, OcrPayment):
            payments.append(item)
        elif isinstance(item, AssignmentSummary):
            assignments.append(item)
        else:
            transmission = item
    if transmission is None:  # pragma: no cover - iter_ocr raises first
        raise OcrError("no transmission end")
    return OcrFile(transmission, tuple(assignments), tuple(payments))


# -- writing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OcrHeader:
    """The fixed fields of a file with one assignment. Numbers are digit strings."""

    transmission_number: str  # 7 digits, unique per file
    data_recipient: str  # 8 digits, the recipient's customer unit id
    agreement_id: str  # 9 digits
    assignment_number: str  # 7 digits
    assignment_account: str  # 11 digits, the payee's account
    nets_date: date  # the date the file is produced
    data_transmitter: str = NETS_ID  # 8 digits


@dataclass(frozen=True, slots=True)
class OcrTransaction:
    """A line of a settlement report: the KID the journal system set, and the amount."""

    kid: str
    amount: int  # øre, > 0
    day: date
    reversal: bool = False  # a credit: written as type 18 "reversing with KID"


def _digits(name: str, value: str, width: int) -> None:
    if len(value) != width or not value.isdigit():
        raise OcrInputError(f"{name} must be {width} digits, got {value!r}")


def build_ocr(header: OcrHeader, transactions: Iterable[OcrTransaction]) -> Iterator[str]:
    """Yield the file's lines (without line ends) for one assignment of `transactions`.

    Transactions are consumed one at a time and numbered from 1; the end records are
    computed from running counts, so memory use does not grow with the number of lines.
    """
    _digits("transmission number", header.transmission_number, 7)
    _digits("data transmitter", header.data_transmitter, 8)
    _digits("data recipient", header.data_recipient, 8)
    _digits("agreement id", header.agreement_id, 9)
    _digits("assignment number", header.assignment_number, 7)
    _digits("assignment account", header.assignment_account, 11)
    ocr = ServiceCode.OCR_GIRO
    yield TransmissionStart(
        service_code=ServiceCode.NONE,
        transmission_number=header.transmission_number,
        data_transmitter=header.data_transmitter,
        data_recipient=header.data_recipient,
    ).to_ocr()
    yield AssignmentStart(
        service_code=ocr,
        assignment_type=0,
        assignment_number=header.assignment_number,
        assignment_account=header.assignment_account,
        agreement_id=header.agreement_id,
    ).to_ocr()
    count = total = 0
    earliest: date | None = None
    latest: date | None = None
    for tx in transactions:
        if not kid_is_valid(tx.kid):
            raise OcrInputError(f"transaction {count + 1}: KID {tx.kid!r} fails mod 10 and 11")
        if not isinstance(tx.amount, int) or isinstance(tx.amount, bool) or tx.amount <= 0:
            raise OcrInputError(f"transaction {count + 1}: amount must be > 0 øre")
        count += 1
        total += tx.amount
        if count > MAX_TRANSACTIONS or total > MAX_TOTAL_AMOUNT:
            raise OcrInputError("the file would overflow its count or total fields")
        earliest = tx.day if earliest is None or tx.day < earliest else earliest
        latest = tx.day if latest is None or tx.day > latest else latest
        kind = (
            TransactionType.REVERSING_WITH_KID
            if tx.reversal
            else TransactionType.PURCHASE_WITH_KID
        )
        # Terminal and internet payments (types 18/19) carry no bank details: the manual has
        # partial settlement 0 and zero-filled form number, archive reference and account.
        yield TransactionAmountItem1(
            service_code=ocr,
            transaction_type=kind,
            transaction_number=count,
            nets_date=tx.day,
            amount=tx.amount,
            kid=tx.kid,
            centre_id="00",
            day_code=tx.day.day,
            partial_settlement_number=0,
            partial_settlement_serial_number="00000",
            sign="0",
        ).to_ocr()
        yield TransactionAmountItem2(
            service_code=ocr,
            transaction_type=kind,
            transaction_number=count,
            reference="000000000",
            form_number="0000000000",
            bank_date=tx.day,
            debit_account="00000000000",
        ).to_ocr()
    records = 2 + 2 * count
    yield AssignmentEnd(
        service_code=ocr,
        assignment_type=0,
        num_transactions=count,
        num_records=records,
        total_amount=total,
        nets_date_1=header.nets_date,
        nets_date_2=earliest,
        nets_date_3=latest,
    ).to_ocr()
    yield TransmissionEnd(
        service_code=ServiceCode.NONE,
        num_transactions=count,
        num_records=records + 2,
        total_amount=total,
        nets_date=header.nets_date,
    ).to_ocr()


def ocr_text(header: OcrHeader, transactions: Iterable[OcrTransaction]) -> str:
    """The whole file as one string with a newline after every record (small files only)."""
    return "".join(f"{line}\n" for line in build_ocr(header, transactions))
