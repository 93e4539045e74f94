"""At the deadline, on a simulated clock, unpaid orders take each routing rule."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from medipay_backend import fallback
from medipay_backend.adapters.bureau import SimulatedBureau
from medipay_backend.domain.contacts import Address
from medipay_backend.domain.scoring import CreditHistory

from .conftest import ADMIN_TOKEN
from .flow import Flow
from .people import ADDRESS, ADULT, ADULT_2, CHILD_10, ORG_NUMBER, TEEN_17, order

PATIENT = order()["patient"]
GUARDIAN = {"name": "Ola Nordmann", "mobile": "41234567", "address": ADDRESS}


def _patient(**changes: Any) -> dict[str, Any]:
    return {k: v for k, v in {**PATIENT, **changes}.items() if v is not None}


CASES: list[tuple[str, dict[str, Any], str, str, str]] = [
    # name, order changes, status, route (or manual), reason
    ("good score", {}, "invoiced", "bought", "good_score"),
    ("poor score", {"patient": _patient(national_id=ADULT_2)}, "invoiced", "fakturaservice",
     "poor_score"),
    ("no national id", {"patient": _patient(national_id=None)}, "invoiced", "fakturaservice",
     "no_national_id"),
    ("under 16", {"patient": _patient(national_id=CHILD_10), "guardian": GUARDIAN},
     "invoiced", "fakturaservice", "minor_under_16"),
    ("16 to 18 may be bought", {"patient": _patient(national_id=TEEN_17)}, "invoiced",
     "bought", "good_score"),
    ("over NOK 3,000", {"amount": 300_001}, "invoiced", "fakturaservice", "amount_over_limit"),
    ("exactly NOK 3,000", {"amount": 300_000}, "invoiced", "bought", "good_score"),
    ("always Fakturaservice", {"always_fakturaservice": True}, "invoiced", "fakturaservice",
     "always_fakturaservice"),
    ("other payer", {"payer": "other", "other_payer": {"name": "Per Hansen",
                                                       "mobile": "93000000",
                                                       "address": ADDRESS}},
     "invoiced", "fakturaservice", "other_payer"),
    ("missing address", {"patient": _patient(national_id=None, address=None)},
     "manual_handling", "manual", "missing_address"),
    ("poor score without address", {"patient": _patient(national_id=ADULT_2, address=None)},
     "manual_handling", "manual", "missing_address"),
]


@pytest.mark.parametrize(("name", "changes", "status", "route", "reason"), CASES,
                         ids=[c[0] for c in CASES])
async def test_expiry_routes_each_rule(
    flow: Flow, bureau: SimulatedBureau, name: str, changes: dict[str, Any], status: str,
    route: str, reason: str,
) -> None:
    bureau.profiles[ADULT_2] = CreditHistory(claims_in_collection=1)
    posted = await flow.post(order(1, **changes))
    await flow.tick()
    flow.clock.advance(timedelta(hours=47, minutes=59))
    await flow.tick()
    assert (await flow.status(posted["id"]))["status"] == "awaiting_payment"
    await flow.expire(hours=1 / 60)
    result = await flow.status(posted["id"])
    assert (result["status"], result["status_reason"]) == (status, reason), name
    events = [h["event"] for h in result["history"]]
    assert events[-2] == "deadline_passed"
    if route == "manual":
        assert result["invoice"] is None
        assert events[-1] == "manual_handling"
        assert result["status_reason_text"]
        return
    invoice = result["invoice"]
    assert (invoice["route"], invoice["origin"], invoice["reason"]) == (route, "fallback",
                                                                       reason)
    assert invoice["total"] == posted["amount"] + 5_900  # the invoice fee is added
    assert invoice["kid"] == posted["kid"]
    if name == "under 16":
        assert invoice["recipient"] == "guardian"
    assert events[-1] == "invoice_created"


async def test_company_goes_straight_to_fakturaservice(flow: Flow) -> None:
    company = {"org_number": ORG_NUMBER, "name": "Firma AS", "address": ADDRESS, "ehf": True}
    posted = await flow.post(order(1, payer="company", company=company,
                                   patient=_patient(mobile=None), invoice_fee=False))
    assert posted["direct_to_invoice"] is True
    await flow.tick()
    assert flow.sms == []  # no checkout for companies
    result = await flow.status(posted["id"])
    assert result["status"] == "invoiced"
    invoice = result["invoice"]
    assert (invoice["route"], invoice["origin"], invoice["reason"], invoice["recipient"]) == (
        "fakturaservice", "direct", "company_payer", "company")
    assert invoice["invoice_fee"] == 0
    assert [h["event"] for h in result["history"]] == ["received", "invoice_created"]


async def test_direct_to_invoice_skips_checkout_and_is_scored(flow: Flow) -> None:
    posted = await flow.post(order(1, direct_to_invoice=True))
    await flow.tick()
    result = await flow.status(posted["id"])
    assert flow.sms == []
    assert result["invoice"]["route"] == "bought" and result["invoice"]["origin"] == "direct"


async def test_without_fakturaservice_a_poor_score_is_manual(
    flow: Flow, bureau: SimulatedBureau, client: httpx.AsyncClient
) -> None:
    terms = {"fakturaservice": False}
    response = await client.put(f"/v1/clinics/{flow.epj.clinic_id}/agreement", json=terms,
                                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 200
    bureau.profiles[ADULT] = CreditHistory(defaults=3)
    poor = await flow.post(order(1))
    forced = await flow.post(order(2, amount=400_000))
    await flow.expire()
    assert (await flow.status(poor["id"]))["status_reason"] == "score_failed_no_fakturaservice"
    assert (await flow.status(forced["id"]))["status_reason"] == "fakturaservice_unavailable"


async def test_bought_claims_use_the_registered_address(
    flow: Flow, bureau: SimulatedBureau
) -> None:
    bureau.addresses = {ADULT: Address("Folkeregistret vei 2", "5003", "Bergen")}
    posted = await flow.post(order(1, patient=_patient(address=None)))
    await flow.expire()
    result = await flow.status(posted["id"])
    assert result["invoice"]["route"] == "bought"


async def test_many_expired_orders_are_routed_in_chunks(
    flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fallback, "SWEEP_CHUNK", 7)
    batch = [order(n, direct_to_invoice=True) for n in range(1, 51)]
    response = await flow.client.post("/v1/orders", json={"orders": batch}, auth=flow.epj.auth)
    assert response.status_code == 200
    await flow.expire(hours=0)
    listing = await flow.client.get("/v1/orders", params={"status": "invoiced", "limit": 100},
                                    auth=flow.epj.auth)
    assert len(listing.json()["items"]) == 50
