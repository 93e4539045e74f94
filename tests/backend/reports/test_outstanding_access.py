"""`GET /v1/reports/outstanding`: an EPJ reads its own clinic's outstanding Fakturaservice
claims report (what the clinic books as receivables) with its credential, and nothing of
another clinic; the operator reads any clinic's, the same report as the operator-only
`/v1/invoicing/clinics/{id}/outstanding`, which stays operator-only."""

from __future__ import annotations

from datetime import timedelta

import httpx

from medipay.clock import SimulatedClock
from medipay_backend.db import Database
from medipay_backend.localtime import oslo_date
from medipay_backend.problems import PROBLEM_BASE

from ..conftest import MakeEpj
from ..invoicing.seed import make_claim

REPORT = "/v1/reports/outstanding"


def _problem(response: httpx.Response, status: int, slug: str, detail: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert (body["type"], body["detail"]) == (PROBLEM_BASE + slug, detail)


async def test_epj_reads_its_own_clinics_outstanding_report_only(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock, make_epj: MakeEpj,
) -> None:
    alfa = await make_epj("alfa")
    await make_epj("beta")
    issued = oslo_date(clock.now())
    database.transaction(lambda s: [
        make_claim(s, clock.now(), clinic_id="alfa", account_id="alfa-dr-1", amount=100_000),
        make_claim(s, clock.now(), clinic_id="alfa", account_id="alfa-dr-1", amount=30_000),
        make_claim(s, clock.now(), clinic_id="beta", account_id="beta-dr-1", amount=7_000)])
    clock.advance(timedelta(days=3))

    operator = await client.get("/v1/invoicing/clinics/alfa/outstanding",
                                headers=admin_headers)
    assert operator.status_code == 200, operator.text
    body = operator.json()
    assert body["receivable"] == 100_000 + 30_000 + 2 * 4_900
    assert [(i["principal"], i["issue_date"]) for i in body["items"]] == [
        (100_000, issued.isoformat()), (30_000, issued.isoformat())]
    for params in ({}, {"clinic_id": "alfa"}):  # the credential's clinic is the default
        mine = await client.get(REPORT, params=params, auth=alfa.auth)
        assert mine.status_code == 200, mine.text
        assert mine.json() == body
    # On an earlier date: the day before the claims were issued, nothing was outstanding.
    before = await client.get(REPORT, params={"at": (issued - timedelta(days=1)).isoformat()},
                              auth=alfa.auth)
    assert before.json() == {"clinic_id": "alfa", "at": (issued - timedelta(days=1)).isoformat(),
                             "receivable": 0, "items": []}

    # Another clinic, existing or not, is the same not-found problem.
    for clinic in ("beta", "gamma"):
        _problem(await client.get(REPORT, params={"clinic_id": clinic}, auth=alfa.auth),
                 404, "not-found", f"no clinic {clinic!r} for this credential")
    # The operator-only route stays operator-only: an EPJ credential is not accepted there.
    epj_there = await client.get("/v1/invoicing/clinics/alfa/outstanding", auth=alfa.auth)
    assert epj_there.status_code == 401
    assert epj_there.json()["type"] == PROBLEM_BASE + "admin-auth-required"


async def test_operator_names_the_clinic_and_credentials_are_checked(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock, make_epj: MakeEpj,
) -> None:
    alfa = await make_epj("alfa")
    database.transaction(lambda s: make_claim(s, clock.now(), clinic_id="alfa",
                                              account_id="alfa-dr-1", amount=50_000))
    direct = (await client.get("/v1/invoicing/clinics/alfa/outstanding",
                               headers=admin_headers)).json()
    report = await client.get(REPORT, params={"clinic_id": "alfa"}, headers=admin_headers)
    assert report.status_code == 200 and report.json() == direct
    assert direct["receivable"] == 54_900
    missing = await client.get(REPORT, headers=admin_headers)
    _problem(missing, 422, "validation-failed", "clinic_id is required with the operator token")
    _problem(await client.get(REPORT, params={"clinic_id": "gamma"}, headers=admin_headers),
             404, "not-found", "no clinic 'gamma'")
    nobody = await client.get(REPORT)
    assert nobody.status_code == 401
    assert nobody.json()["type"] == PROBLEM_BASE + "admin-auth-required"
    wrong = await client.get(REPORT, auth=httpx.BasicAuth(alfa.client_id, "not-the-secret"))
    assert wrong.status_code == 401
    assert wrong.json()["type"] == PROBLEM_BASE + "invalid-epj-credentials"
