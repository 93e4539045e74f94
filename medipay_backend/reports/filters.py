"""Checking a report's filters before it runs: a typo must not look like an empty report."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from medipay_backend.domain.settlement import SettlementStream, Source
from medipay_backend.models_clinics import Clinic, ClinicAccount

STREAMS = tuple(s.value for s in SettlementStream)
PAYMENT_TYPES = tuple(s.value for s in Source)


class ReportFilterError(ValueError):
    """A filter names something that does not exist, or the period is reversed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def check_choice(field: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise ReportFilterError(field, f"unknown value {value!r}; one of {', '.join(allowed)}")


def check_period(date_from: date | None, date_to: date | None) -> None:
    if date_from is not None and date_to is not None and date_from > date_to:
        raise ReportFilterError("date_to", "the period ends before it begins")


def check_clinic(session: Session, clinic_id: str | None) -> None:
    if clinic_id is not None and session.get(Clinic, clinic_id) is None:
        raise ReportFilterError("clinic_id", f"no clinic {clinic_id!r}")


def check_account(session: Session, account_id: str | None, clinic_id: str | None) -> None:
    if account_id is None:
        return
    account = session.get(ClinicAccount, account_id)
    if account is None:
        raise ReportFilterError("account_id", f"no account {account_id!r}")
    if clinic_id is not None and account.clinic_id != clinic_id:
        raise ReportFilterError("account_id", f"account {account_id!r} is not at {clinic_id!r}")
