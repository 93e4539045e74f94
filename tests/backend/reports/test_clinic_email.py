"""A clinic's report e-mail address: validated, set at creation or later, cleared; by the
operator API and the CLI."""

from __future__ import annotations

from pathlib import Path

import httpx
from typer.testing import CliRunner

from medipay_backend.cli import backend_app
from medipay_backend.problems import PROBLEM_BASE

from ..people import ORG_NUMBER

CLINIC = {"clinic_id": "bergen-fysio", "name": "Bergen Fysioterapi", "org_number": ORG_NUMBER}
PATH = "/v1/clinics/bergen-fysio/report-email"


async def test_set_at_creation_changed_and_cleared(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    created = await client.post("/v1/clinics", json={**CLINIC, "report_email":
                                                     "Regnskap@Bergen-Fysio.NO"},
                                headers=admin_headers)
    assert created.status_code == 201, created.text
    assert created.json()["report_email"] == "Regnskap@bergen-fysio.no"  # domain normalised
    repeat = await client.post("/v1/clinics", json=CLINIC, headers=admin_headers)
    assert repeat.status_code == 200 and repeat.json()["report_email"] == (
        "Regnskap@bergen-fysio.no")
    other = await client.post("/v1/clinics", json={**CLINIC, "report_email": "a@b.no"},
                              headers=admin_headers)
    assert other.json()["type"] == PROBLEM_BASE + "clinic-conflict"

    changed = await client.put(PATH, json={"report_email": "oppgjor@bergen-fysio.no"},
                               headers=admin_headers)
    assert changed.status_code == 200 and changed.json()["report_email"] == (
        "oppgjor@bergen-fysio.no")
    cleared = await client.put(PATH, json={"report_email": None}, headers=admin_headers)
    assert cleared.json()["report_email"] is None
    shown = await client.get("/v1/clinics/bergen-fysio", headers=admin_headers)
    assert shown.json()["report_email"] is None


async def test_bad_addresses_change_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    for bad in ("regnskap", "a@b", "Kari <kari@klinikk.no>", "a b@klinikk.no",
                "x" * 250 + "@klinikk.no", 42):
        response = await client.post("/v1/clinics", json={**CLINIC, "report_email": bad},
                                     headers=admin_headers)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["errors"][0]["loc"][-1] == "report_email"
    assert (await client.get("/v1/clinics", headers=admin_headers)).json()["items"] == []
    await client.post("/v1/clinics", json={**CLINIC, "report_email": "a@klinikk.no"},
                      headers=admin_headers)
    refused = await client.put(PATH, json={"report_email": "ikke en adresse"},
                               headers=admin_headers)
    assert refused.status_code == 422
    assert (await client.put(PATH, json={}, headers=admin_headers)).status_code == 422
    unknown = await client.put("/v1/clinics/nowhere/report-email",
                               json={"report_email": "a@klinikk.no"}, headers=admin_headers)
    assert unknown.status_code == 404
    assert (await client.put(PATH, json={"report_email": None})).status_code == 401
    shown = await client.get("/v1/clinics/bergen-fysio", headers=admin_headers)
    assert shown.json()["report_email"] == "a@klinikk.no"


def test_cli(database_url: str, tmp_path: Path) -> None:
    config_path = tmp_path / "backend.toml"
    config_path.write_text(f'database_url = "{database_url}"\n'
                           f'admin_token = "cli-operator-token-1"\ndata_dir = "{tmp_path}"\n')
    config = ["--config", str(config_path)]
    cli = CliRunner()
    bad = cli.invoke(backend_app, ["clinic", "create", "oslo", "--name", "Oslo",
                                   "--org-number", ORG_NUMBER, "--report-email", "oslo", *config])
    assert bad.exit_code == 1 and "report_email" in bad.output
    created = cli.invoke(backend_app, ["clinic", "create", "oslo", "--name", "Oslo",
                                       "--org-number", ORG_NUMBER,
                                       "--report-email", "post@oslo.example", *config])
    assert created.exit_code == 0, created.output
    changed = cli.invoke(backend_app, ["clinic", "report-email", "oslo", "ny@oslo.example",
                                       *config])
    assert changed.exit_code == 0 and "ny@oslo.example" in changed.output
    cleared = cli.invoke(backend_app, ["clinic", "report-email", "oslo", "--clear", *config])
    assert cleared.exit_code == 0 and "download only" in cleared.output
    for args in (["oslo"], ["oslo", "ikke@", ], ["nowhere", "a@oslo.example"]):
        refused = cli.invoke(backend_app, ["clinic", "report-email", *args, *config])
        assert refused.exit_code == 1, (args, refused.output)
