"""A standalone terminal's transaction list, exported by the simulator, imported by the gateway."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from firmware_sim.clocks import TrioClock
from firmware_sim.device import SimTerminal
from firmware_sim.engine import TerminalEngine
from firmware_sim.export import export_csv, export_json
from firmware_sim.state import TerminalState
from medipay.clock import SimulatedClock
from medipay.up import UpPorts, start_stack
from tests.e2e.test_walking_skeleton import wait_for_backend_items


def keyed_in_terminal(terminal_id: str = "52500001") -> SimTerminal:
    """The stack's terminal used without an ECR: two payments, a refund and a decline."""

    async def sell() -> SimTerminal:
        device = SimTerminal(TerminalEngine(TerminalState(terminal_id=terminal_id),
                                            TrioClock()), seed=3)
        await device.standalone("purchase", 32000)
        await device.standalone("purchase", 4500)
        await device.standalone("refund", 1500)
        await device.standalone("purchase", 99_999_999)  # over the card's limit: declined
        return device

    # Customers take seconds; a virtual clock makes that instant and repeatable.
    return trio.run(sell, clock=trio.testing.MockClock(autojump_threshold=0))


@pytest.fixture
async def stack(nursery, tmp_path: Path):
    stack = await start_stack(nursery, tmp_path, SimulatedClock(), UpPorts(0, 0, 0))
    supervisor = stack.gateway.service.supervisor("T1")
    with trio.fail_after(10):
        while supervisor.state != "ready":  # registered: the gateway knows the terminal's id
            await trio.sleep(0.01)
    return stack


async def test_import_relays_each_transaction_once(stack):
    device = await trio.to_thread.run_sync(keyed_in_terminal)
    document = export_json(device.engine.state, "2026-01-05T09:00:00+00:00")
    assert [t["status"] for t in document["transactions"]] == [
        "approved", "approved", "approved", "declined"]
    auth = {"Authorization": f"Bearer {stack.gateway.token}"}
    async with httpx.AsyncClient(base_url=stack.gateway.base_url, headers=auth) as epj:
        first = await epj.post("/v1/terminals/T1/imports", json=document)
        again = await epj.post("/v1/terminals/T1/imports",
                               content=export_csv(device.engine.state).encode(),
                               headers={"Content-Type": "text/csv"})
        listed = await epj.get("/v1/transactions", params={"terminal_id": "T1"})
    assert first.status_code == 200, first.text
    assert first.json() == {"terminal_id": "T1", "imported": 4, "duplicates": 0}
    assert again.json() == {"terminal_id": "T1", "imported": 0, "duplicates": 4}
    kinds = sorted((t["kind"], t["status"], t["amount"]) for t in listed.json()["items"])
    assert kinds == [("payment", "approved", 4500), ("payment", "approved", 32000),
                     ("payment", "declined", 99_999_999), ("refund", "approved", 1500)]
    assert all(t["details"]["source"] == "standalone" for t in listed.json()["items"])

    async with httpx.AsyncClient(base_url=stack.backend_url) as operator:
        items = await wait_for_backend_items(operator, stack.admin_token, 4)
    assert sorted(i["amount"] for i in items) == [1500, 4500, 32000, 99_999_999]
    assert len({i["idempotency_key"] for i in items}) == 4


async def test_bad_or_conflicting_lists_change_nothing(stack):
    device = await trio.to_thread.run_sync(keyed_in_terminal)
    document = export_json(device.engine.state, "2026-01-05T09:00:00+00:00")
    other = await trio.to_thread.run_sync(keyed_in_terminal, "52500009")
    auth = {"Authorization": f"Bearer {stack.gateway.token}"}
    broken = json.loads(json.dumps(document))
    broken["transactions"][1]["masked_pan"] = "4111111111111111"
    tampered = json.loads(json.dumps(document))
    tampered["transactions"][0]["amount"] = 1
    async with httpx.AsyncClient(base_url=stack.gateway.base_url, headers=auth) as epj:
        not_json = await epj.post("/v1/terminals/T1/imports", content=b"{nope",
                                  headers={"Content-Type": "application/json"})
        full_pan = await epj.post("/v1/terminals/T1/imports", json=broken)
        foreign = await epj.post("/v1/terminals/T1/imports",
                                 json=export_json(other.engine.state, "2026-01-05T09:00:00Z"))
        assert (await epj.get("/v1/transactions")).json()["items"] == []
        ok = await epj.post("/v1/terminals/T1/imports", json=document)
        conflict = await epj.post("/v1/terminals/T1/imports", json=tampered)
        count = len((await epj.get("/v1/transactions")).json()["items"])
    assert not_json.status_code == 422 and full_pan.status_code == 422
    assert "masked_pan" in full_pan.json()["detail"]
    assert foreign.status_code == 422 and foreign.json()["type"].endswith("/wrong-terminal")
    assert ok.status_code == 200
    assert conflict.status_code == 409
    assert count == 4
