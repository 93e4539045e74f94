"""The control API over real HTTP (hypercorn), beside a terminal on TCP, on the real clock."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
import trio

from firmware_sim.ecr import Ecr
from firmware_sim.runtime import Running, SimOptions, run_simulator
from medipay.clock import SimulatedClock

PROBLEM = "application/problem+json"


@pytest.fixture
async def running(nursery, tmp_path) -> Running:
    options = SimOptions(port=0, control=("127.0.0.1", 0), state_file=tmp_path / "state.json",
                         seed=3, display_log=tmp_path / "display.log")
    return await nursery.start(run_simulator, options, SimulatedClock())


@pytest.fixture
async def api(running: Running):  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=running.control_url, timeout=30) as client:
        yield client


async def open_ecr(running: Running, register: bool = True) -> Ecr:
    port = int(running.where.rsplit(":", 1)[1])
    ecr = Ecr(await trio.open_tcp_stream("127.0.0.1", port))
    if register:
        assert (await ecr.register()).status == "done"
    return ecr


async def test_present_a_card_pay_and_read_everything_back(running, api, tmp_path):
    ecr = await open_ecr(running)
    queued = await api.post("/v1/cards", json={"card": "mastercard"})
    assert queued.status_code == 202 and queued.json()["card"] == "mastercard"
    result = await ecr.pay(4200)
    assert result.status == "approved" and result.status_info.card_type == 6

    status = (await api.get("/v1/status")).json()
    assert status["powered"] is True and status["receipt_number"] == 1
    assert status["registered_config"] == 0xBE
    display = (await api.get("/v1/display", params={"tail": 20})).json()
    texts = [entry["text"] for entry in display["log"]]
    assert "BELØP NOK 42,00 | HOLD KORTET INNTIL" in texts and "GODKJENT" in texts
    assert "HOLD KORTET INNTIL" in (tmp_path / "display.log").read_text(encoding="utf-8")
    receipts = (await api.get("/v1/receipts", params={"tail": 2})).json()["receipts"]
    assert [r["printer"] for r in receipts] == ["ecr", "ecr"]
    assert "BELØP NOK 42,00" in receipts[0]["lines"]
    totals = (await api.get("/v1/totals")).json()
    assert totals["count"] == 1 and totals["payments"] == {"eurocard": {"count": 1,
                                                                         "amount": 4200}}
    journal = (await api.get("/v1/journal")).json()["journal"]
    assert journal[-1]["masked_pan"] == "555555******4444" and journal[-1]["status"] == \
        "approved"


async def test_pin_typed_on_the_keypad(running, api):
    ecr = await open_ecr(running)
    await api.post("/v1/cards", json={"card": "bankaxept", "keypad": True})
    async with trio.open_nursery() as nursery:
        results = []

        async def pay() -> None:
            results.append(await ecr.pay(30000))

        nursery.start_soon(pay)
        while (await api.get("/v1/display")).json()["lines"] != ["TAST PIN OG OK"]:
            await trio.sleep(0.02)
        await api.post("/v1/keys", json={"keys": ["4", "3", "9", "CLEAR", "2", "1", "OK"]})
    assert results[0].status == "approved"


async def test_faults_through_the_api(running, api):
    ecr = await open_ecr(running)
    armed = await api.post("/v1/faults", json={"kind": "busy", "times": 1, "seconds": 0.1})
    assert armed.status_code == 201 and armed.json()["kind"] == "busy"
    assert (await api.get("/v1/faults")).json()["armed"][0]["left"] == 1
    assert (await ecr.pay(1000)).status == "approved"
    fired = (await api.get("/v1/faults")).json()
    assert fired["armed"] == [] and {"kind": "busy", "step": None} in fired["fired"]
    bad = await api.post("/v1/faults", json={"kind": "noise", "ber": 0.5})
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM
    assert bad.json()["type"].endswith("/sim/invalid-fault")
    await api.post("/v1/faults", json={"kind": "delay", "at": "host", "seconds": 60})
    assert (await api.delete("/v1/faults")).json() == {"armed": []}


async def test_problems(api):
    unknown = await api.post("/v1/cards", json={"card": "no-such-card"})
    assert unknown.status_code == 404 and unknown.json()["type"].endswith("/unknown-card")
    key = await api.post("/v1/keys", json={"keys": ["X"]})
    assert key.status_code == 422 and key.json()["type"].endswith("/unknown-key")
    invalid = await api.post("/v1/standalone", json={"amount": -5})
    assert invalid.status_code == 422 and invalid.headers["content-type"] == PROBLEM
    assert invalid.json()["errors"][0]["field"] == "amount"


async def test_power_cut_and_on(running, api):
    ecr = await open_ecr(running)
    assert (await ecr.pay(1000)).status == "approved"
    cut = await api.post("/v1/power/cut", json={})
    assert cut.json()["powered"] is False
    assert (await api.get("/v1/status")).json()["display"] == []
    port = int(running.where.rsplit(":", 1)[1])
    with pytest.raises(OSError):
        await trio.open_tcp_stream("127.0.0.1", port)
    refused = await api.post("/v1/standalone", json={"amount": 100})
    assert refused.status_code == 409
    assert (await api.post("/v1/power/on")).json()["powered"] is True
    ecr = await open_ecr(running, register=False)  # registration survived in flash
    assert (await ecr.pay(1000)).receipt_number == 2


async def test_standalone_amounts_and_export(running, api):
    await api.post("/v1/cards", json={"card": "visa"})
    first = await api.post("/v1/standalone", json={"amount": 32000})
    assert first.status_code == 200
    assert first.json()["status"] == "approved" and first.json()["source"] == "standalone"
    await api.post("/v1/cards", json={"card": "visa-low"})
    declined = (await api.post("/v1/standalone", json={"amount": 32000})).json()
    assert declined["status"] == "declined" and declined["result_code"] == 0x33
    receipts = (await api.get("/v1/receipts", params={"tail": 4})).json()["receipts"]
    assert {r["printer"] for r in receipts} == {"terminal"}

    exported = (await api.get("/v1/export")).json()
    assert exported["format"] == "medipay-sim-transactions/1"
    assert exported["terminal_id"] == "52500001" and exported["last_seq"] == 2
    items = exported["transactions"]
    assert [(t["status"], t["amount"], t["currency"]) for t in items] == [
        ("approved", 32000, "NOK"), ("declined", 32000, "NOK")]
    assert items[0]["id"] == "52500001-00000001" and items[0]["receipt_number"] == 1
    assert items[1]["receipt_number"] is None
    later = (await api.get("/v1/export", params={"after": 1})).json()["transactions"]
    assert [t["seq"] for t in later] == [2]

    text = (await api.get("/v1/export", params={"format": "csv"})).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text.startswith("id,seq,terminal_id,") and "\r\n" in text
    assert rows[0]["masked_pan"] == "411111******1111" and rows[1]["receipt_number"] == ""

    # Once an ECR registers with "ECR controls payments" (0x10), no more keyed amounts.
    ecr = await open_ecr(running)
    assert ecr is not None
    refused = await api.post("/v1/standalone", json={"amount": 100})
    assert refused.status_code == 409 and refused.json()["type"].endswith(
        "/amount-entry-refused")
    bad = await api.get("/v1/export", params={"source": "cashier"})
    assert bad.status_code == 422
