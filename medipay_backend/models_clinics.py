"""Tables for clinics (brukersteder), their accounts, agreements and EPJ credentials.

A clinic may hold several accounts: each practitioner with books of their own signs up
separately, and an EPJ credential belongs to one account. Everything an EPJ sees is scoped
to the clinic of its credential.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from medipay_backend.models import Base, UTCDateTime

SETTLEMENT_FREQUENCIES = ("daily", "weekly", "monthly")
KID_SCHEMES = ("mod10", "mod11")


class Clinic(Base):
    __tablename__ = "clinics"

    clinic_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    org_number: Mapped[str] = mapped_column(sa.String(9))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Where settlement reports are e-mailed; NULL: nowhere (they are only downloadable).
    report_email: Mapped[str | None] = mapped_column(sa.String(254))


class ClinicAgreement(Base):
    """The clinic's terms: prices, invoice fee, settlement frequency and limits (øre)."""

    __tablename__ = "clinic_agreements"
    __table_args__ = (
        sa.CheckConstraint("invoice_fee >= 0", name="invoice_fee_not_negative"),
        sa.CheckConstraint("price_per_transaction >= 0", name="price_not_negative"),
        sa.CheckConstraint("price_percent_bp >= 0", name="percent_not_negative"),
        sa.CheckConstraint("max_order_amount > 0", name="max_amount_positive"),
        sa.CheckConstraint(
            f"settlement_frequency IN {SETTLEMENT_FREQUENCIES!r}", name="frequency_known"
        ),
        sa.CheckConstraint(f"kid_scheme IN {KID_SCHEMES!r}", name="kid_scheme_known"),
    )

    clinic_id: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey("clinics.clinic_id"), primary_key=True
    )
    invoice_fee: Mapped[int] = mapped_column(sa.BigInteger())
    price_per_transaction: Mapped[int] = mapped_column(sa.BigInteger())
    price_percent_bp: Mapped[int] = mapped_column(sa.Integer())
    settlement_frequency: Mapped[str] = mapped_column(sa.String(16))
    max_order_amount: Mapped[int] = mapped_column(sa.BigInteger())
    kid_scheme: Mapped[str] = mapped_column(sa.String(8))
    fakturaservice: Mapped[bool] = mapped_column(sa.Boolean())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ClinicAccount(Base):
    """One practitioner's books at a clinic, with the bank account settlements go to."""

    __tablename__ = "clinic_accounts"

    account_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    clinic_id: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey("clinics.clinic_id"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    bank_account: Mapped[str] = mapped_column(sa.String(11))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EpjCredential(Base):
    """A client id and secret an EPJ uses for one account. Only a hash of the secret is kept."""

    __tablename__ = "epj_credentials"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "idempotency_key", name="uq_epj_credentials_key"),
    )

    client_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey("clinic_accounts.account_id")
    )
    clinic_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("clinics.clinic_id"))
    idempotency_key: Mapped[str] = mapped_column(sa.String(200))
    label: Mapped[str | None] = mapped_column(sa.String(200))
    secret_sha256: Mapped[str] = mapped_column(sa.String(64))
    # Random salt of the secret's derivation (see clinics.derive_secret).
    derivation_salt: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
