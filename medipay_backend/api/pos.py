"""POS terminal data from gateways: signed intake, operator listing.

Transactions and end-of-day totals follow the same pattern: a gateway posts a signed batch of
1..500 records, each with its own idempotency key; the operator lists them newest first.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query

from medipay.logs import get_logger
from medipay_backend.api.intake import check_key_owner, store_batch
from medipay_backend.api.paging import next_cursor, page_request
from medipay_backend.auth import (
    AuthenticatedGateway,
    SignedRoute,
    require_admin,
    signed_gateway,
)
from medipay_backend.deps import Services, get_services
from medipay_backend.models import PosEndOfDay, PosTransaction
from medipay_backend.pos import (
    PageRequest,
    get_by_id,
    list_page,
    store_end_of_day,
    store_transactions,
)
from medipay_backend.problems import NOT_FOUND, ProblemError, problem_responses
from medipay_backend.schemas import (
    EndOfDayBatch,
    EndOfDayOut,
    EndOfDayPage,
    IntakeResults,
    PosTransactionBatch,
    PosTransactionOut,
    PosTransactionPage,
    TxKind,
    TxStatus,
)

log = get_logger(__name__)
router = APIRouter(prefix="/v1", tags=["pos"])
# Gateway-signed routes: the signature is checked before the body is parsed.
signed_router = APIRouter(prefix="/v1", tags=["pos"], route_class=SignedRoute)

_SIGNED = "Signed by a gateway: see the X-MediPay-* headers in docs/backend.md."
_SIGNED_PROBLEMS = problem_responses(401, 409, 413, 422)
_ADMIN_PROBLEMS = problem_responses(401, 422)


@signed_router.post(
    "/pos-transactions",
    response_model=IntakeResults,
    responses=_SIGNED_PROBLEMS,
    summary="Report POS transactions (signed)",
    description=_SIGNED,
)
async def post_pos_transactions(
    batch: PosTransactionBatch,
    gateway: AuthenticatedGateway = Depends(signed_gateway),
    services: Services = Depends(get_services),
) -> IntakeResults:
    txs = batch.transactions
    check_key_owner(gateway.gateway_id, [tx.idempotency_key for tx in txs], "transactions")
    now = services.clock.now()
    answer = await store_batch(
        services, lambda session: store_transactions(session, gateway.gateway_id, txs, now)
    )
    _log_intake("pos transactions received", gateway.gateway_id, answer)
    return answer


@router.get(
    "/pos-transactions",
    response_model=PosTransactionPage,
    responses=_ADMIN_PROBLEMS,
    dependencies=[Depends(require_admin)],
    summary="List POS transactions, newest first",
)
async def get_pos_transactions(
    gateway_id: str | None = Query(None, max_length=64),
    terminal_id: str | None = Query(None, max_length=64),
    status: TxStatus | None = None,
    kind: TxKind | None = None,
    page: PageRequest = Depends(page_request),
    services: Services = Depends(get_services),
) -> PosTransactionPage:
    filters = {"gateway_id": gateway_id, "terminal_id": terminal_id, "status": status,
               "kind": kind}
    rows, last = await services.db.run(
        lambda session: list_page(session, PosTransaction, filters, page)
    )
    return PosTransactionPage(
        items=[PosTransactionOut.model_validate(row) for row in rows], next=next_cursor(last)
    )


@router.get(
    "/pos-transactions/{transaction_id}",
    response_model=PosTransactionOut,
    responses=problem_responses(401, 404),
    dependencies=[Depends(require_admin)],
)
async def get_pos_transaction(
    transaction_id: str = Path(max_length=36), services: Services = Depends(get_services)
) -> PosTransactionOut:
    row = await services.db.run(lambda session: get_by_id(session, PosTransaction, transaction_id))
    if row is None:
        raise ProblemError(NOT_FOUND, f"no POS transaction {transaction_id!r}")
    return PosTransactionOut.model_validate(row)


@signed_router.post(
    "/pos-end-of-day",
    response_model=IntakeResults,
    responses=_SIGNED_PROBLEMS,
    summary="Report terminals' end-of-day totals (signed)",
    description=_SIGNED,
)
async def post_pos_end_of_day(
    batch: EndOfDayBatch,
    gateway: AuthenticatedGateway = Depends(signed_gateway),
    services: Services = Depends(get_services),
) -> IntakeResults:
    totals = batch.totals
    check_key_owner(gateway.gateway_id, [t.idempotency_key for t in totals], "totals")
    now = services.clock.now()
    answer = await store_batch(
        services, lambda session: store_end_of_day(session, gateway.gateway_id, totals, now)
    )
    _log_intake("end-of-day totals received", gateway.gateway_id, answer)
    return answer


@router.get(
    "/pos-end-of-day",
    response_model=EndOfDayPage,
    responses=_ADMIN_PROBLEMS,
    dependencies=[Depends(require_admin)],
    summary="List end-of-day totals, newest first",
)
async def get_pos_end_of_day(
    gateway_id: str | None = Query(None, max_length=64),
    terminal_id: str | None = Query(None, max_length=64),
    page: PageRequest = Depends(page_request),
    services: Services = Depends(get_services),
) -> EndOfDayPage:
    filters = {"gateway_id": gateway_id, "terminal_id": terminal_id}
    rows, last = await services.db.run(
        lambda session: list_page(session, PosEndOfDay, filters, page)
    )
    return EndOfDayPage(
        items=[EndOfDayOut.model_validate(row) for row in rows], next=next_cursor(last)
    )


@router.get(
    "/pos-end-of-day/{end_of_day_id}",
    response_model=EndOfDayOut,
    responses=problem_responses(401, 404),
    dependencies=[Depends(require_admin)],
)
async def get_one_pos_end_of_day(
    end_of_day_id: str = Path(max_length=36), services: Services = Depends(get_services)
) -> EndOfDayOut:
    row = await services.db.run(lambda session: get_by_id(session, PosEndOfDay, end_of_day_id))
    if row is None:
        raise ProblemError(NOT_FOUND, f"no end-of-day record {end_of_day_id!r}")
    return EndOfDayOut.model_validate(row)


def _log_intake(event: str, gateway_id: str, answer: IntakeResults) -> None:
    created = sum(1 for r in answer.results if r.outcome == "created")
    log.info(
        event, gateway_id=gateway_id, created=created, duplicates=len(answer.results) - created
    )
