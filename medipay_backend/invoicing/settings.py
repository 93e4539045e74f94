"""Where the daily invoicing job delivers to, from the `[invoicing]` configuration section,
and the eFaktura directory that an operator or tester can fill from a file.

The eFaktura 2.0 network is simulated. Who accepts eFaktura is read from a plain text file,
one national ID per line, optionally followed by the organisation number of the one issuer
accepted (without it: every issuer); `#` starts a comment:

    # accepted eFaktura from anyone
    14038512345
    # only from this clinic
    02079054321 974760673

An eFaktura "delivered" is written as `<invoice number>.pdf` (with a `.json` of its amount,
KID and recipient) into the eFaktura outbox, so a tester can see what went out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from medipay.logs import get_logger
from medipay_backend.domain.identity import InvalidNationalId, parse_national_id

log = get_logger(__name__)
ANY_ISSUER = "*"


class EfakturaFileError(ValueError):
    """The eFaktura acceptance file has a line that is not a national ID (and issuer)."""


@dataclass(frozen=True)
class InvoicingSettings:
    print_dir: Path  # a folder per day of PDFs for the print shop
    ehf_outbox: Path  # EHF XML for the Peppol access point
    efaktura_outbox: Path  # what the simulated eFaktura network "delivered"
    efaktura_accepted_file: Path | None = None  # None: nobody has accepted eFaktura


def read_acceptances(path: Path, today: date) -> set[tuple[str, str]]:
    """(national ID, issuer org number or "*") pairs; `EfakturaFileError` names the line."""
    accepted: set[tuple[str, str]] = set()
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = raw.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) > 2 or (len(fields) == 2 and not fields[1].isdigit()):
            raise EfakturaFileError(f"{path}:{number}: expected a national ID and optionally "
                                    "an issuer's organisation number")
        try:
            person = parse_national_id(fields[0], today).number
        except InvalidNationalId as exc:
            raise EfakturaFileError(f"{path}:{number}: the national ID {exc}") from exc
        accepted.add((person, fields[1] if len(fields) == 2 else ANY_ISSUER))
    return accepted


@dataclass
class FileEfaktura:
    """An eFaktura directory read from the acceptance file, delivering into a folder."""

    accepted: set[tuple[str, str]]
    outbox: Path

    @classmethod
    def load(cls, settings: InvoicingSettings, today: date) -> FileEfaktura:
        """Read the file now (so a tester's edit counts at the next run). A missing or broken
        file means nobody accepts eFaktura: the invoices go by e-mail or paper instead."""
        path = settings.efaktura_accepted_file
        accepted: set[tuple[str, str]] = set()
        if path is not None:
            try:
                accepted = read_acceptances(path, today)
            except (OSError, EfakturaFileError) as exc:
                log.warning("efaktura acceptance file not used", error=str(exc))
        return cls(accepted, settings.efaktura_outbox)

    def accepts(self, national_id: str, issuer_org: str) -> bool:
        return bool({(national_id, issuer_org), (national_id, ANY_ISSUER)} & self.accepted)

    def deliver(self, national_id: str, number: int, amount: int, kid: str,
                pdf: bytes) -> str:
        self.outbox.mkdir(parents=True, exist_ok=True)
        (self.outbox / f"{number}.pdf").write_bytes(pdf)
        receipt = {"invoice_number": number, "amount": amount, "kid": kid,
                   "recipient": national_id[:6] + "*****"}
        (self.outbox / f"{number}.json").write_text(json.dumps(receipt, indent=2))
        return f"efaktura-{number}"
