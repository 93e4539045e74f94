"""Shared steps of the signed intake endpoints: key ownership and storing a batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from medipay_backend.deps import Services
from medipay_backend.pos import IdempotencyConflict, IntakeResult
from medipay_backend.pos_reversals import ReversalMismatch
from medipay_backend.problems import (
    IDEMPOTENCY_CONFLICT,
    REVERSAL_MISMATCH,
    VALIDATION_FAILED,
    ProblemError,
)
from medipay_backend.schemas import IntakeItemResult, IntakeResults


def check_key_owner(gateway_id: str, keys: Sequence[str], field: str) -> None:
    """Every idempotency key must start with `<gateway_id>:`, the signer's own id."""
    prefix = gateway_id + ":"
    errors = [
        {
            "loc": ["body", field, str(index), "idempotency_key"],
            "msg": f"must start with the signing gateway's id followed by ':' ({prefix!r})",
            "type": "idempotency_key_owner",
        }
        for index, key in enumerate(keys)
        if not key.startswith(prefix) or len(key) == len(prefix)
    ]
    if errors:
        raise ProblemError(
            VALIDATION_FAILED,
            f"{len(errors)} idempotency key(s) do not belong to gateway {gateway_id!r}; "
            "nothing was stored",
            extensions={"errors": errors},
        )


async def store_batch(
    services: Services, work: Callable[[Session], list[IntakeResult]]
) -> IntakeResults:
    """Run an intake in one transaction; a conflicting repeat becomes a 409 problem, a
    reversal that does not fit its payment a 422."""
    try:
        results = await services.db.run_check_then_insert(work)
    except IdempotencyConflict as exc:
        raise ProblemError(
            IDEMPOTENCY_CONFLICT,
            f"idempotency key {exc.idempotency_key!r} was already used for different content; "
            "nothing in this request was stored",
            extensions={"idempotency_key": exc.idempotency_key},
        ) from exc
    except ReversalMismatch as exc:
        raise ProblemError(
            REVERSAL_MISMATCH,
            f"{exc.reason}; nothing in this request was stored",
            extensions={"idempotency_key": exc.idempotency_key},
        ) from exc
    return IntakeResults(
        results=[
            IntakeItemResult(idempotency_key=r.idempotency_key, id=r.id, outcome=r.outcome)
            for r in results
        ]
    )
