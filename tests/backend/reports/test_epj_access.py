"""An EPJ reads its own clinic's settlements, files and reports with its EPJ credential, and
nothing of another clinic: another clinic's ids are answered exactly like ids that do not
exist, and a listing never holds another clinic's rows. The operator's access is unchanged."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from medipay.clock import SimulatedClock
from medipay_backend.api import reports as reports_api
from medipay_backend.api import settlements as settlements_api
from medipay_backend.auth import OPERATOR_SCOPE, ClinicScope
from medipay_backend.db import Database
from medipay_backend.models_ledger import Settlement
from medipay_backend.problems import PROBLEM_BASE, ProblemError

from ..conftest import Epj
from .seed import DAY_1, DAY_2, ITEMS, seed_and_settle

NOT_FOUND = PROBLEM_BASE + "not-found"
REPORT = "/v1/reports/settlements"
EARNINGS = "/v1/reports/earnings"
PERIOD = {"date_from": DAY_1.isoformat(), "date_to": DAY_2.isoformat()}


async def _credential(client: httpx.AsyncClient, admin: dict[str, str], clinic: str,
                      account: str) -> Epj:
    response = await client.post(f"/v1/clinics/{clinic}/accounts/{account}/credentials",
                                 json={"idempotency_key": f"epj-{account}"}, headers=admin)
    assert response.status_code == 201, response.text
    body = response.json()
    return Epj(clinic, account, body["client_id"], body["secret"])


def _not_found(response: httpx.Response, detail: str) -> None:
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert (body["type"], body["status"], body["detail"]) == (NOT_FOUND, 404, detail)


async def _seed(client: httpx.AsyncClient, admin: dict[str, str], database: Database,
                clock: SimulatedClock, root: Path) -> tuple[Epj, list[Settlement]]:
    settled = await seed_and_settle(database, clock, root)
    assert {r.clinic_id for r in settled} == {"alfa", "beta"}
    # The credential of one account; it reads the whole clinic, both accounts.
    return await _credential(client, admin, "alfa", "alfa-dr-2"), settled


async def test_epj_reads_its_clinics_settlements_and_files_only(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock, tmp_path: Path,
) -> None:
    epj, settled = await _seed(client, admin_headers, database, clock, tmp_path)
    alfa = [r for r in settled if r.clinic_id == "alfa"]
    beta = [r for r in settled if r.clinic_id == "beta"]

    # The list: without a clinic filter, or with its own, exactly the operator's for alfa.
    admin_list = (await client.get("/v1/settlements", params={"clinic_id": "alfa"},
                                   headers=admin_headers)).json()["settlements"]
    assert {s["settlement_id"] for s in admin_list} == {r.id for r in alfa}
    for params in ({}, {"clinic_id": "alfa"}):
        mine = await client.get("/v1/settlements", params=params, auth=epj.auth)
        assert mine.status_code == 200, mine.text
        assert mine.json()["settlements"] == admin_list
    pos_only = await client.get("/v1/settlements", params={"stream": "pos"}, auth=epj.auth)
    assert {s["settlement_id"] for s in pos_only.json()["settlements"]} == {
        r.id for r in alfa if r.stream == "pos"}
    # Another clinic, existing or not, is the same not-found problem; nothing is listed.
    for clinic in ("beta", "gamma"):
        got = await client.get("/v1/settlements", params={"clinic_id": clinic}, auth=epj.auth)
        _not_found(got, f"no clinic {clinic!r} for this credential")
    everything = (await client.get("/v1/settlements", headers=admin_headers)).json()
    assert {s["settlement_id"] for s in everything["settlements"]} == {r.id for r in settled}

    # One settlement, its files and the POS list: the same bytes as the operator gets.
    files_seen = set()
    for row in alfa:
        path = f"/v1/settlements/{row.id}"
        mine = await client.get(path, auth=epj.auth)
        assert mine.status_code == 200 and mine.json() == (
            await client.get(path, headers=admin_headers)).json()
        for kind in row.files:
            got = await client.get(f"{path}/files/{kind}", auth=epj.auth)
            assert got.status_code == 200, (kind, got.text)
            assert got.content == Path(row.files[kind]["path"]).read_bytes()
            files_seen.add(kind)
        if row.stream == "pos":
            for params in ({}, {"format": "csv"}):
                got = await client.get(f"{path}/pos-transactions", params=params, auth=epj.auth)
                assert got.status_code == 200, got.text
                assert got.content == (await client.get(
                    f"{path}/pos-transactions", params=params, headers=admin_headers)).content
    assert files_seen == {"json", "csv", "pdf", "transactions", "ocr"}

    # Another clinic's settlement answers exactly like one that does not exist.
    for settlement_id in [r.id for r in beta] + ["00000000-no-such-settlement"]:
        path = f"/v1/settlements/{settlement_id}"
        detail = f"no settlement {settlement_id!r}"
        _not_found(await client.get(path, auth=epj.auth), detail)
        for kind in ("json", "csv", "pdf", "transactions", "ocr"):
            _not_found(await client.get(f"{path}/files/{kind}", auth=epj.auth), detail)
        _not_found(await client.get(f"{path}/pos-transactions", auth=epj.auth), detail)
    for row in beta:  # the operator still reads them
        assert (await client.get(f"/v1/settlements/{row.id}/files/json",
                                 headers=admin_headers)).status_code == 200

    # Operator-only: the e-mail status (it names the recipient), mapping a gateway.
    mail = await client.get(f"/v1/settlements/{alfa[0].id}/mail", auth=epj.auth)
    assert mail.status_code == 401
    assert mail.json()["type"] == PROBLEM_BASE + "admin-auth-required"
    assert (await client.get(f"/v1/settlements/{alfa[0].id}/mail",
                             headers=admin_headers)).status_code == 200
    moved = await client.put("/v1/gateways/gw-alfa/clinic", json={"clinic_id": "alfa"},
                             auth=epj.auth)
    assert moved.status_code == 401


def _alfa_totals() -> dict[str, int]:
    """What the settlement report must say for alfa, from the seed's own list."""
    kept = [i for i in ITEMS if i.clinic == "alfa"]
    return {"count": len(kept), "gross": sum(i.amount for i in kept if not i.credit),
            "credits": sum(i.amount for i in kept if i.credit),
            "fees": sum(i.fee for i in kept), "net": sum(i.net for i in kept)}


async def test_epj_reads_its_clinics_reports_only(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock, tmp_path: Path,
) -> None:
    epj, _ = await _seed(client, admin_headers, database, clock, tmp_path)

    # The settlement report: without a clinic, the credential's clinic.
    admin_report = await client.get(REPORT, params={"clinic_id": "alfa"}, headers=admin_headers)
    for params in ({}, {"clinic_id": "alfa"}):
        mine = await client.get(REPORT, params=params, auth=epj.auth)
        assert mine.status_code == 200, mine.text
        body = mine.json()
        assert body == admin_report.json()
        assert {row["clinic_id"] for row in body["rows"]} == {"alfa"}
        assert {k: body["totals"][k] for k in _alfa_totals()} == _alfa_totals()
        csv_mine = await client.get(REPORT, params={**params, "format": "csv"}, auth=epj.auth)
        assert csv_mine.text == (await client.get(
            REPORT, params={"clinic_id": "alfa", "format": "csv"}, headers=admin_headers)).text
    # Either account of its clinic, not just the credential's.
    other_account = (await client.get(REPORT, params={"account_id": "alfa-dr-1"},
                                      auth=epj.auth)).json()
    assert other_account["rows"] and {r["account_id"] for r in other_account["rows"]} == {
        "alfa-dr-1"}
    # Line by line: the same file as the operator's for alfa, no line of beta.
    lines = await client.get(f"{REPORT}/lines", auth=epj.auth)
    assert lines.status_code == 200, lines.text
    assert lines.text == (await client.get(f"{REPORT}/lines", params={"clinic_id": "alfa"},
                                           headers=admin_headers)).text
    rows = list(csv.DictReader(io.StringIO(lines.text)))
    assert len(rows) == _alfa_totals()["count"]
    assert {row["clinic_id"] for row in rows} == {"alfa"}

    # Another clinic: the not-found problem, whether it exists or not (the operator still
    # gets the report's own 422 for an unknown clinic).
    for clinic in ("beta", "gamma"):
        for path, params in ((REPORT, {}), (REPORT, {"format": "csv"}),
                             (f"{REPORT}/lines", {}), (EARNINGS, PERIOD)):
            got = await client.get(path, params={**params, "clinic_id": clinic}, auth=epj.auth)
            _not_found(got, f"no clinic {clinic!r} for this credential")
    unknown = await client.get(REPORT, params={"clinic_id": "gamma"}, headers=admin_headers)
    assert unknown.status_code == 422
    # Another clinic's account is as unknown as one that does not exist.
    for account in ("beta-dr-1", "nobody"):
        for path in (REPORT, f"{REPORT}/lines"):
            got = await client.get(path, params={"account_id": account}, auth=epj.auth)
            assert got.status_code == 422, got.text
            (error,) = got.json()["errors"]
            assert error["loc"] == ["query", "account_id"]
            assert error["msg"] == f"no account {account!r}"

    # The earnings report of its clinic, JSON and CSV, as the operator sees it.
    for fmt in ("json", "csv"):
        params = {**PERIOD, "clinic_id": "alfa", "format": fmt}
        mine = await client.get(EARNINGS, params=params, auth=epj.auth)
        assert mine.status_code == 200, mine.text
        assert mine.content == (await client.get(EARNINGS, params=params,
                                                 headers=admin_headers)).content
    earnings = (await client.get(EARNINGS, params={**PERIOD, "clinic_id": "alfa"},
                                 auth=epj.auth)).json()
    assert earnings["clinic_id"] == "alfa"


def _reader_paths(pos: str, checkout: str) -> list[tuple[str, dict[str, str]]]:
    return [
        ("/v1/settlements", {}), (f"/v1/settlements/{checkout}", {}),
        (f"/v1/settlements/{pos}/files/json", {}), (f"/v1/settlements/{checkout}/files/ocr", {}),
        (f"/v1/settlements/{pos}/pos-transactions", {}),
        (REPORT, {}), (f"{REPORT}/lines", {}), (EARNINGS, {**PERIOD, "clinic_id": "alfa"}),
    ]


async def test_no_or_bad_credentials_are_401(
    client: httpx.AsyncClient, admin_headers: dict[str, str], database: Database,
    clock: SimulatedClock, tmp_path: Path,
) -> None:
    epj, settled = await _seed(client, admin_headers, database, clock, tmp_path)
    (pos, checkout) = [r for r in settled if r.clinic_id == "alfa" and r.settlement_date == DAY_1
                       and r.stream in ("pos", "checkout")]
    if pos.stream != "pos":
        pos, checkout = checkout, pos
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "admin-auth-required"),
        ({"auth": httpx.BasicAuth(epj.client_id, "wrong-secret")}, "invalid-epj-credentials"),
        ({"auth": httpx.BasicAuth("epj_nobody", epj.secret)}, "invalid-epj-credentials"),
        ({"headers": {"Authorization": "Bearer wrong-token"}}, "invalid-admin-token"),
    ]
    for path, params in _reader_paths(pos.id, checkout.id):
        for kwargs, slug in cases:
            got = await client.get(path, params=params, **kwargs)
            assert got.status_code == 401, (path, slug, got.text)
            assert got.json()["type"] == PROBLEM_BASE + slug, (path, got.text)
            assert "www-authenticate" in got.headers
        # Without credentials both schemes are offered.
        challenge = (await client.get(path, params=params)).headers["www-authenticate"]
        assert challenge.startswith("Bearer ") and "Basic " in challenge
        assert (await client.get(path, params=params, auth=epj.auth)).status_code == 200
        assert (await client.get(path, params=params, headers=admin_headers)).status_code == 200

    # A revoked credential stops at once.
    revoked = await client.post(f"/v1/clinics/alfa/credentials/{epj.client_id}/revoke",
                                headers=admin_headers)
    assert revoked.status_code == 200, revoked.text
    got = await client.get("/v1/settlements", auth=epj.auth)
    assert got.status_code == 401
    assert got.json()["type"] == PROBLEM_BASE + "invalid-epj-credentials"

    # No route of these routers is left without authentication (none has a router-wide one).
    ids = {"settlement_id": pos.id, "kind": "json", "gateway_id": "gw-alfa"}
    routes = [r for r in (*settlements_api.router.routes, *reports_api.router.routes)
              if isinstance(r, APIRoute)]
    assert len(routes) == 11  # the outstanding report and the e-mail resend included
    for route in routes:
        for method in route.methods:
            got = await client.request(method, route.path.format(**ids), json={})
            assert got.status_code == 401, (method, route.path)


def test_scope_of_a_credential_covering_several_clinics() -> None:
    """Credentials cover one clinic today; the scope already handles several."""
    scope = ClinicScope(frozenset({"alfa", "beta"}))
    assert scope.single_clinic("beta") == "beta" and scope.allows("alfa")
    with pytest.raises(ProblemError) as missing:
        scope.single_clinic(None)
    assert missing.value.problem.slug == "validation-failed"
    with pytest.raises(ProblemError) as foreign:
        scope.single_clinic("gamma")
    assert foreign.value.problem.slug == "not-found"
    assert ClinicScope(frozenset({"alfa"})).single_clinic(None) == "alfa"
    assert OPERATOR_SCOPE.single_clinic(None) is None
    assert OPERATOR_SCOPE.single_clinic("gamma") == "gamma"  # the report says if it exists
    assert OPERATOR_SCOPE.is_operator and not scope.is_operator
