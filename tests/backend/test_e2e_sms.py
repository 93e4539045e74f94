"""End to end over real sockets: the backend (hypercorn) with its scheduler sends the link
over SMPP to the local SMSC; the SMSC's delivery receipt shows up in the order's history."""

from __future__ import annotations

from pathlib import Path

import httpx
import trio

from medipay.clock import SimulatedClock
from medipay_backend.config import BackendConfig, HttpConfig, SchedulerConfig, SmsConfig
from medipay_backend.server import BackendHandle, serve_backend
from medipay_backend.sms.smsc import LocalSmsc

from .conftest import START
from .people import order


async def _setup_epj(client: httpx.AsyncClient, token: str) -> httpx.BasicAuth:
    headers = {"Authorization": f"Bearer {token}"}
    await client.post("/v1/clinics", json={"clinic_id": "oslo", "name": "Oslo legesenter",
                                           "org_number": "974760673"}, headers=headers)
    await client.post("/v1/clinics/oslo/accounts", json={
        "account_id": "oslo-1", "name": "Dr. Hansen", "bank_account": "86011117947"},
        headers=headers)
    credential = await client.post("/v1/clinics/oslo/accounts/oslo-1/credentials",
                                   json={"idempotency_key": "cred-1"}, headers=headers)
    body = credential.json()
    return httpx.BasicAuth(body["client_id"], body["secret"])


async def test_order_to_sms_at_the_smsc_with_delivery_receipt(
    database_url: str, tmp_path: Path
) -> None:
    clock = SimulatedClock(START)
    smsc = LocalSmsc(clock, undeliverable={"4741111111"})
    async with trio.open_nursery() as nursery:
        port = await nursery.start(smsc.serve)
        config = BackendConfig(
            data_dir=tmp_path, database_url=database_url, http=HttpConfig(port=0),
            admin_token="e2e-operator-token-123",
            sms=SmsConfig(url=f"smpp://medipay:secret@127.0.0.1:{port}?source=MediPay"),
            scheduler=SchedulerConfig(poll_seconds=0.05),
        )
        handle: BackendHandle = await nursery.start(serve_backend, config, clock)
        async with httpx.AsyncClient(base_url=handle.base_url) as client:
            auth = await _setup_epj(client, handle.admin_token)
            ok = await client.post("/v1/orders", json=order(1), auth=auth)
            lost = order(2)
            lost["patient"] = {**lost["patient"], "mobile": "41111111"}
            unlucky = await client.post("/v1/orders", json=lost, auth=auth)
            with trio.fail_after(30):  # generous: job polls, SMPP and receipts on busy cores
                messages = await smsc.wait_for(2)
                while True:
                    first = await client.get(f"/v1/orders/{ok.json()['id']}", auth=auth)
                    second = await client.get(f"/v1/orders/{unlucky.json()['id']}", auth=auth)
                    events = [[h["event"] for h in r.json()["history"]]
                              for r in (first, second)]
                    if "sms_delivered" in events[0] and "sms_undelivered" in events[1]:
                        break
                    await trio.sleep(0.05)
            by_number = {m.destination: m for m in messages}
            text = by_number["4791234567"].text
            assert text.startswith("Regning fra Oslo legesenter på 450,01 kr.")
            assert handle.base_url + "/c/" in text
            link = text.split(handle.base_url)[1]
            landing = await client.get(link)
            assert landing.status_code == 200 and "450,01" in landing.text
            assert first.json()["status"] == "awaiting_payment"
            assert events[0] == ["received", "sms_sent", "sms_delivered"]
            assert events[1] == ["received", "sms_sent", "sms_undelivered"]
        nursery.cancel_scope.cancel()
