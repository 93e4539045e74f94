"""A demo clinic for `medipay up`: one clinic, one account, one EPJ credential and one clinic
administrator for the portal (idempotent)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

import sqlalchemy as sa
import trio
from sqlalchemy.orm import Session

from medipay.clock import Clock
from medipay_backend.clinics import (
    CredentialRecord,
    create_account,
    create_clinic,
    create_credential,
)
from medipay_backend.db import Database
from medipay_backend.models_portal import ClinicAdmin
from medipay_backend.portal import accounts
from medipay_backend.portal.settings import PortalSettings

DEMO_CLINIC_ID = "demo-legesenter"
DEMO_ACCOUNT_ID = "demo-lege-1"
DEMO_CREDENTIAL_KEY = "medipay-up-demo"
DEMO_ORG_NUMBER = "974760673"
DEMO_BANK_ACCOUNT = "86011117947"
DEMO_ADMIN_EMAIL = "admin@demo-legesenter.no"


@dataclass(frozen=True)
class DemoClinic:
    clinic_id: str
    account_id: str
    epj_client_id: str
    epj_secret: str


async def ensure_demo_clinic(database: Database, clock: Clock, admin_token: str) -> DemoClinic:
    """Create (or find) the demo clinic and its EPJ credential. The secret is derived from
    the operator token, so the same token gives the same secret on every start."""
    now = clock.now()

    def work(session: Session) -> CredentialRecord:
        create_clinic(session, DEMO_CLINIC_ID, "Demo legesenter", DEMO_ORG_NUMBER, None, now)
        create_account(session, DEMO_CLINIC_ID, DEMO_ACCOUNT_ID, "Dr. Demo", DEMO_BANK_ACCOUNT,
                       now)
        credential, _ = create_credential(session, DEMO_CLINIC_ID, DEMO_ACCOUNT_ID,
                                          DEMO_CREDENTIAL_KEY, "medipay up", admin_token, now)
        return credential

    credential = await database.run_check_then_insert(work)
    assert credential.secret is not None
    return DemoClinic(DEMO_CLINIC_ID, DEMO_ACCOUNT_ID, credential.client_id, credential.secret)


def order_curl(base_url: str, demo: DemoClinic) -> str:
    """A curl command that posts one demo order (a fresh idempotency key per paste)."""
    body = {
        "idempotency_key": "demo-KEY", "amount": 45000, "description": "Legetime",
        "patient": {"name": "Kari Nordmann", "national_id": "14038510151",
                    "mobile": "91234567",
                    "address": {"street": "Storgata 1", "postal_code": "0155", "city": "Oslo"}},
    }
    text = json.dumps(body, ensure_ascii=False).replace("demo-KEY", "demo-'\"$RANDOM$RANDOM\"'")
    return " ".join([
        "curl -sS -X POST", shlex.quote(f"{base_url}/v1/orders"),
        "-u", shlex.quote(f"{demo.epj_client_id}:{demo.epj_secret}"),
        "-H", shlex.quote("Content-Type: application/json"),
        "-d", f"'{text}'",
    ])


@dataclass(frozen=True)
class DemoAdmin:
    email: str
    # A fresh one-time password while the admin has not chosen a password yet; None once it
    # has (a restart must not throw away the password the tester chose).
    one_time_password: str | None


async def ensure_demo_admin(database: Database, clock: Clock,
                            settings: PortalSettings = PortalSettings()) -> DemoAdmin:
    """The demo clinic's portal administrator: created, or given a new one-time password on
    every start until its first login (the clear text is never stored, so it cannot be shown
    again otherwise)."""
    otp = await trio.to_thread.run_sync(accounts.issue_one_time_password, settings.scrypt)
    now = clock.now()

    def work(session: Session) -> str | None:
        admin = session.scalar(sa.select(ClinicAdmin)
                               .where(ClinicAdmin.email == DEMO_ADMIN_EMAIL))
        if admin is None:
            accounts.create_admin(session, DEMO_CLINIC_ID, DEMO_ADMIN_EMAIL, "Demo-administrator",
                                  otp, settings.otp_lifetime, now)
            return otp.password
        if admin.password_hash is None:
            accounts.reset_admin(session, DEMO_CLINIC_ID, admin.id, otp,
                                 settings.otp_lifetime, now)
            return otp.password
        return None

    return DemoAdmin(DEMO_ADMIN_EMAIL, await database.run_check_then_insert(work))
