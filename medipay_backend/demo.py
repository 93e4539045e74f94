"""A demo clinic for `medipay up`: one clinic, one account, one EPJ credential (idempotent)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from sqlalchemy.orm import Session

from medipay.clock import Clock
from medipay_backend.clinics import (
    CredentialRecord,
    create_account,
    create_clinic,
    create_credential,
)
from medipay_backend.db import Database

DEMO_CLINIC_ID = "demo-legesenter"
DEMO_ACCOUNT_ID = "demo-lege-1"
DEMO_CREDENTIAL_KEY = "medipay-up-demo"
DEMO_ORG_NUMBER = "974760673"
DEMO_BANK_ACCOUNT = "86011117947"


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
