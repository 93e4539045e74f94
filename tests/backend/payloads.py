"""Request bodies for the backend tests."""

from __future__ import annotations

from typing import Any


def transaction(gateway_id: str, n: int = 1, **overrides: Any) -> dict[str, Any]:
    """A plausible approved card payment; `n` varies trace, receipt and amount."""
    tx: dict[str, Any] = {
        "idempotency_key": f"{gateway_id}:T0000001:{100 + n}:{n}",
        "gateway_transaction_id": f"gtx-{n:06d}",
        "terminal_id": "T0000001",
        "kind": "payment",
        "status": "approved",
        "amount": 45000 + n,
        "currency": "NOK",
        "masked_pan": "547103******1234",
        "card_name": "Mastercard",
        "receipt_number": n,
        "trace_number": 100 + n,
        "result_code": 0,
        "reference": f"EPJ-{n}",
        "occurred_at": "2026-01-05T09:15:00+01:00",
    }
    tx.update(overrides)
    return tx


def end_of_day(gateway_id: str, n: int = 1, **overrides: Any) -> dict[str, Any]:
    total: dict[str, Any] = {
        "idempotency_key": f"{gateway_id}:T0000001:eod:{n}",
        "terminal_id": "T0000001",
        "occurred_at": "2026-01-05T17:00:00+01:00",
        "count": 3,
        "amount": 135000,
        "currency": "NOK",
        "per_scheme": [
            {"card_name": "BankAxept", "count": 2, "amount": 90000},
            {"card_name": "Visa", "count": 1, "amount": 45000},
        ],
    }
    total.update(overrides)
    return total
