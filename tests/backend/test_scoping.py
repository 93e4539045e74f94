"""One clinic cannot see, change or probe another clinic's orders."""

from __future__ import annotations

import httpx

from .conftest import MakeEpj
from .people import order


async def test_clinics_see_only_their_own_orders(
    client: httpx.AsyncClient, make_epj: MakeEpj
) -> None:
    oslo = await make_epj("oslo")
    bergen = await make_epj("bergen")
    mine = await client.post("/v1/orders", json=order(1), auth=oslo.auth)
    assert mine.status_code == 201, mine.text
    order_id = mine.json()["id"]

    assert (await client.get(f"/v1/orders/{order_id}", auth=oslo.auth)).status_code == 200
    foreign = await client.get(f"/v1/orders/{order_id}", auth=bergen.auth)
    assert foreign.status_code == 404
    assert order_id in foreign.json()["detail"]  # the same answer as for an unknown id
    assert (await client.get("/v1/orders", auth=bergen.auth)).json()["items"] == []

    # The same idempotency key in another clinic is another order, not a conflict.
    theirs = await client.post("/v1/orders", json=order(1, amount=99), auth=bergen.auth)
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["id"] != order_id
    listing = await client.get("/v1/orders", auth=oslo.auth)
    assert [o["id"] for o in listing.json()["items"]] == [order_id]


async def test_accounts_of_one_clinic_share_its_orders(
    client: httpx.AsyncClient, make_epj: MakeEpj
) -> None:
    first = await make_epj("oslo", "oslo-dr-a")
    second = await make_epj("oslo", "oslo-dr-b")
    posted = await client.post("/v1/orders", json=order(1), auth=first.auth)
    assert posted.json()["account_id"] == "oslo-dr-a"
    seen = await client.get(f"/v1/orders/{posted.json()['id']}", auth=second.auth)
    assert seen.status_code == 200
