"""Operator endpoints for clinics, accounts, agreements and EPJ credentials."""

from __future__ import annotations

import httpx
from sqlalchemy.engine import Engine

from medipay_backend.problems import PROBLEM_BASE

from .conftest import MakeEpj
from .people import BANK_ACCOUNT, ORG_NUMBER

CLINIC = {"clinic_id": "bergen-fysio", "name": "Bergen Fysioterapi", "org_number": ORG_NUMBER}


async def test_clinic_is_created_once_and_repeats_are_idempotent(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    first = await client.post("/v1/clinics", json=CLINIC, headers=admin_headers)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["agreement"]["invoice_fee"] == 5900
    assert body["agreement"]["max_order_amount"] == 5_000_000
    again = await client.post("/v1/clinics", json=CLINIC, headers=admin_headers)
    assert again.status_code == 200
    assert again.json() == body
    changed = await client.post(
        "/v1/clinics", json={**CLINIC, "name": "Annet navn"}, headers=admin_headers
    )
    assert changed.status_code == 409
    assert changed.json()["type"] == PROBLEM_BASE + "clinic-conflict"


async def test_agreement_and_accounts(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await client.post("/v1/clinics", json=CLINIC, headers=admin_headers)
    terms = {"invoice_fee": 4900, "price_per_transaction": 250, "price_percent_bp": 125,
             "settlement_frequency": "daily", "max_order_amount": 1_000_000,
             "kid_scheme": "mod11", "fakturaservice": False}
    put = await client.put("/v1/clinics/bergen-fysio/agreement", json=terms,
                           headers=admin_headers)
    assert put.status_code == 200, put.text
    assert put.json()["agreement"] == terms
    account = {"account_id": "bergen-dr-a", "name": "Dr. A", "bank_account": "8601.11.17947"}
    created = await client.post("/v1/clinics/bergen-fysio/accounts", json=account,
                                headers=admin_headers)
    assert created.status_code == 201, created.text
    assert created.json()["bank_account"] == BANK_ACCOUNT
    repeat = await client.post("/v1/clinics/bergen-fysio/accounts", json=account,
                               headers=admin_headers)
    assert repeat.status_code == 200
    other = await client.post("/v1/clinics/bergen-fysio/accounts",
                              json={**account, "name": "Dr. B"}, headers=admin_headers)
    assert other.json()["type"] == PROBLEM_BASE + "account-conflict"
    shown = (await client.get("/v1/clinics/bergen-fysio", headers=admin_headers)).json()
    assert [a["account_id"] for a in shown["accounts"]] == ["bergen-dr-a"]
    listing = (await client.get("/v1/clinics", headers=admin_headers)).json()
    assert [c["clinic_id"] for c in listing["items"]] == ["bergen-fysio"]


async def test_invalid_clinic_input_is_refused(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    bad = [
        {**CLINIC, "org_number": "974760674"},
        {**CLINIC, "clinic_id": "-bad"},
        {**CLINIC, "name": ""},
        {**CLINIC, "agreement": {"kid_scheme": "mod12"}},
        {**CLINIC, "agreement": {"invoice_fee": -1}},
    ]
    for body in bad:
        response = await client.post("/v1/clinics", json=body, headers=admin_headers)
        assert response.status_code == 422, body
    await client.post("/v1/clinics", json=CLINIC, headers=admin_headers)
    account = await client.post(
        "/v1/clinics/bergen-fysio/accounts",
        json={"account_id": "a-1", "name": "Dr", "bank_account": "86011117948"},
        headers=admin_headers,
    )
    assert account.status_code == 422
    missing = await client.post(
        "/v1/clinics/nowhere/accounts",
        json={"account_id": "a-1", "name": "Dr", "bank_account": BANK_ACCOUNT},
        headers=admin_headers,
    )
    assert missing.status_code == 404


async def test_clinic_endpoints_need_the_operator_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/clinics", json=CLINIC)
    assert response.status_code == 401
    assert response.json()["type"] == PROBLEM_BASE + "admin-auth-required"


async def test_credential_repeat_shows_the_same_secret_and_only_a_hash_is_stored(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_epj: MakeEpj,
    engine: Engine,
) -> None:
    epj = await make_epj("bergen-fysio", "bergen-dr-a")
    path = "/v1/clinics/bergen-fysio/accounts/bergen-dr-a/credentials"
    repeat = await client.post(path, json={"idempotency_key": "cred-bergen-dr-a"},
                               headers=admin_headers)
    assert repeat.status_code == 200
    assert (repeat.json()["client_id"], repeat.json()["secret"]) == (epj.client_id, epj.secret)
    assert len(epj.secret) >= 43  # 256 bits
    conflict = await client.post(path, json={"idempotency_key": "cred-bergen-dr-a",
                                             "label": "other"}, headers=admin_headers)
    assert conflict.status_code == 409
    with engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT * FROM epj_credentials").mappings().all()
    assert epj.secret not in str(stored)
    listing = await client.get("/v1/clinics/bergen-fysio/credentials", headers=admin_headers)
    assert [c["secret"] for c in listing.json()["items"]] == [None]


async def test_epj_authentication(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_epj: MakeEpj
) -> None:
    epj = await make_epj()
    ok = await client.get("/v1/orders", auth=epj.auth)
    assert ok.status_code == 200, ok.text
    missing = await client.get("/v1/orders")
    assert missing.status_code == 401
    assert missing.json()["type"] == PROBLEM_BASE + "epj-auth-required"
    assert missing.headers["www-authenticate"].startswith("Basic")
    for auth in (httpx.BasicAuth(epj.client_id, epj.secret + "x"),
                 httpx.BasicAuth("epj_unknown", epj.secret)):
        wrong = await client.get("/v1/orders", auth=auth)
        assert wrong.status_code == 401
        assert wrong.json()["type"] == PROBLEM_BASE + "invalid-epj-credentials"
    admin_as_epj = await client.get("/v1/orders", headers=admin_headers)
    assert admin_as_epj.status_code == 401
    revoked = await client.post(
        f"/v1/clinics/{epj.clinic_id}/credentials/{epj.client_id}/revoke", headers=admin_headers
    )
    assert revoked.json()["revoked_at"] is not None
    after = await client.get("/v1/orders", auth=epj.auth)
    assert after.json()["type"] == PROBLEM_BASE + "invalid-epj-credentials"
