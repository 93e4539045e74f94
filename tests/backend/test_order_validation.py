"""Every validation rule of an order gives its own stable code, and nothing is stored."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from medipay_backend.problems import PROBLEM_BASE

from .conftest import MakeEpj
from .people import ADDRESS, ADULT, CHILD_10, D_NUMBER, ORG_NUMBER, TEEN_17, order


def _patient(**changes: Any) -> dict[str, Any]:
    patient = dict(order()["patient"])
    patient.update(changes)
    return {key: value for key, value in patient.items() if value is not None}


GUARDIAN = {"name": "Ola Nordmann", "mobile": "41234567", "address": ADDRESS}
COMPANY = {"org_number": ORG_NUMBER, "name": "Firma AS", "address": ADDRESS}

CASES: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    ("zero amount", {"amount": 0}, [("amount", "amount_not_positive")]),
    ("negative amount", {"amount": -100}, [("amount", "amount_not_positive")]),
    ("over the limit", {"amount": 5_000_001}, [("amount", "amount_over_limit")]),
    ("currency", {"currency": "SEK"}, [("currency", "currency_not_supported")]),
    ("kid check digit", {"kid": "1234567890"}, [("kid", "kid_invalid")]),
    ("kid letters", {"kid": "12AB5"}, [("kid", "kid_invalid")]),
    ("kid too short", {"kid": "7"}, [("kid", "kid_invalid")]),
    ("national id checksum", {"patient": _patient(national_id="14038510152")},
     [("patient.national_id", "national_id_invalid")]),
    ("national id length", {"patient": _patient(national_id="1403851015")},
     [("patient.national_id", "national_id_invalid")]),
    ("national id in the future", {"patient": _patient(national_id="01012750029")},
     [("patient.national_id", "national_id_invalid")]),
    ("landline", {"patient": _patient(mobile="22 33 44 55")},
     [("patient.mobile", "mobile_invalid")]),
    ("not a number", {"patient": _patient(mobile="ring meg")},
     [("patient.mobile", "mobile_invalid")]),
    ("no mobile", {"patient": _patient(mobile=None)}, [("patient.mobile", "mobile_required")]),
    ("email", {"patient": _patient(email="kari.example.no")},
     [("patient.email", "email_invalid")]),
    ("blank name", {"patient": _patient(name="   ")}, [("patient.name", "name_required")]),
    ("postal code", {"patient": _patient(address={**ADDRESS, "postal_code": "155"})},
     [("patient.address.postal_code", "address_invalid")]),
    ("direct invoice without address",
     {"direct_to_invoice": True, "patient": _patient(address=None)},
     [("patient.address", "address_required")]),
    ("child without guardian", {"patient": _patient(national_id=CHILD_10)},
     [("guardian", "guardian_required")]),
    ("guardian for an adult", {"guardian": GUARDIAN}, [("guardian", "guardian_not_minor")]),
    ("child, direct invoice, guardian without address",
     {"patient": _patient(national_id=CHILD_10), "direct_to_invoice": True,
      "guardian": {"name": "Ola Nordmann"}},
     [("guardian.address", "address_required")]),
    ("company missing", {"payer": "company"}, [("company", "company_required")]),
    ("company org number", {"payer": "company",
                            "company": {**COMPANY, "org_number": "974760674"}},
     [("company.org_number", "org_number_invalid")]),
    ("company without address", {"payer": "company",
                                 "company": {"org_number": ORG_NUMBER, "name": "Firma AS"}},
     [("company.address", "address_required")]),
    ("company but patient pays", {"company": COMPANY}, [("company", "company_not_payer")]),
    ("other payer missing", {"payer": "other"}, [("other_payer", "other_payer_required")]),
    ("other payer without address",
     {"payer": "other", "other_payer": {"name": "Per", "mobile": "93000000"}},
     [("other_payer.address", "address_required")]),
    ("other payer when patient pays", {"other_payer": {"name": "Per"}},
     [("other_payer", "other_payer_not_payer")]),
]


@pytest.mark.parametrize(("name", "changes", "expected"), CASES, ids=[c[0] for c in CASES])
def test_rule(name: str, changes: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    """Checked on the domain function directly (fast); the HTTP path is tested below."""
    from datetime import date

    from medipay_backend.domain.validation import Limits, validate_order
    from medipay_backend.orders import draft_of
    from medipay_backend.schemas_orders import OrderIn

    result = validate_order(
        draft_of(OrderIn.model_validate(order(1, **changes))),
        Limits(max_amount=5_000_000, kid_scheme="mod10"), date(2026, 1, 5),
    )
    assert isinstance(result, list), name
    assert [(r.field, r.code) for r in result] == expected


async def test_rules_over_http_report_every_reason(
    client: httpx.AsyncClient, make_epj: MakeEpj
) -> None:
    epj = await make_epj()
    body = order(1, amount=0, kid="1234567890",
                 patient=_patient(national_id="14038510152", mobile="22334455"))
    response = await client.post("/v1/orders", json=body, auth=epj.auth)
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == PROBLEM_BASE + "order-rejected"
    assert {e["code"] for e in problem["errors"]} == {
        "amount_not_positive", "kid_invalid", "national_id_invalid", "mobile_invalid"}
    assert "14038510152" not in response.text and "22334455" not in response.text
    shapes = await client.post("/v1/orders", json=order(2, amount="100"), auth=epj.auth)
    assert shapes.json()["errors"][0]["field"] == "amount"
    unknown = await client.post("/v1/orders", json=order(3, surprise=1), auth=epj.auth)
    assert unknown.json()["errors"][0]["code"] == "extra_forbidden"
    assert (await client.get("/v1/orders", auth=epj.auth)).json()["items"] == []


@pytest.mark.parametrize("changes", [
    {"patient": _patient(national_id=D_NUMBER)},
    {"patient": _patient(national_id=None)},
    {"patient": _patient(national_id=TEEN_17)},
    {"patient": _patient(national_id=TEEN_17), "guardian": GUARDIAN},
    {"patient": _patient(national_id=CHILD_10, mobile=None), "guardian": GUARDIAN},
    {"patient": _patient(mobile="0047 912 34 567")},
    {"patient": _patient(mobile="+46 70 123 45 67")},
    {"payer": "company", "company": COMPANY, "patient": _patient(mobile=None)},
    {"payer": "other", "other_payer": {"name": "Per", "mobile": "93000000",
                                       "address": ADDRESS}},
    {"direct_to_invoice": True, "patient": _patient(mobile=None)},
    {"kid": "0000000018"},
    {"amount": 5_000_000, "invoice_fee": False, "always_fakturaservice": True},
], ids=["d-number", "no national id", "17 years", "17 with guardian", "child via guardian",
        "0047 prefix", "swedish mobile", "company", "other payer", "direct invoice",
        "given kid", "at the limit"])
async def test_valid_variants_are_accepted(
    client: httpx.AsyncClient, make_epj: MakeEpj, changes: dict[str, Any]
) -> None:
    epj = await make_epj()
    response = await client.post("/v1/orders", json=order(1, **changes), auth=epj.auth)
    assert response.status_code == 201, response.text
    assert ADULT not in response.text
