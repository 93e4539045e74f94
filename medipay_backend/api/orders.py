"""EPJ endpoints: post orders (one, or a batch from the outgoing queue), follow their status.

Authentication is the EPJ credential (HTTP Basic); every query is scoped to its clinic.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Response, status
from pydantic import ValidationError
from sqlalchemy.orm import Session

from medipay.logs import get_logger
from medipay_backend.api.paging import next_cursor, page_request
from medipay_backend.clinics import EpjCaller
from medipay_backend.credits import CreditError, CreditResult, credit_order, list_credits
from medipay_backend.deps import Services, get_services
from medipay_backend.domain.validation import Reason
from medipay_backend.epj_auth import require_epj
from medipay_backend.models_orders import ORDER_STATUSES
from medipay_backend.order_view import get_order_out, list_orders, order_out
from medipay_backend.orders import ItemResult, ParsedItem, take_orders
from medipay_backend.pos import IdempotencyConflict, PageRequest
from medipay_backend.problems import (
    IDEMPOTENCY_CONFLICT,
    NOT_FOUND,
    ORDER_REJECTED,
    VALIDATION_FAILED,
    ProblemError,
    ProblemType,
    problem_responses,
)
from medipay_backend.schemas_credits import (
    CreditIn,
    CreditList,
    CreditPosted,
    credit_list,
    credit_posted,
)
from medipay_backend.schemas_orders import (
    MAX_ORDERS_PER_REQUEST,
    OrderError,
    OrderIn,
    OrderOut,
    OrderPage,
    OrderResult,
    OrderResults,
)

log = get_logger(__name__)
router = APIRouter(prefix="/v1/orders", tags=["orders"])

_BODY_DOC = (
    "Either one order (an `OrderIn` object) or `{\"orders\": [OrderIn, ...]}` with 1 to "
    f"{MAX_ORDERS_PER_REQUEST} orders. One order answers 201 with its status (200 for an "
    "exact repeat, 422 `order-rejected` with `errors`); a batch answers 200 with a result per "
    "order. A key reused with other content is 409 and nothing of the request is stored."
)


def _parse(index: int, raw: Any) -> ParsedItem:
    key = raw.get("idempotency_key") if isinstance(raw, dict) else None
    key = key if isinstance(key, str) and 3 <= len(key) <= 200 else None
    try:
        return ParsedItem(index, key, OrderIn.model_validate(raw))
    except ValidationError as exc:
        errors = [
            Reason(
                ".".join(str(p) for p in error["loc"]) or "body",
                str(error["type"]),
                f"{'.'.join(str(p) for p in error['loc']) or 'order'}: {error['msg']}",
            )
            for error in exc.errors()
        ]
        return ParsedItem(index, key, None, errors)


def _split(payload: dict[str, Any]) -> tuple[bool, list[ParsedItem]]:
    if set(payload) != {"orders"}:
        return False, [_parse(0, payload)]
    orders = payload["orders"]
    if not isinstance(orders, list) or not 1 <= len(orders) <= MAX_ORDERS_PER_REQUEST:
        raise ProblemError(
            VALIDATION_FAILED,
            f"orders must be a list of 1 to {MAX_ORDERS_PER_REQUEST} orders",
            extensions={"errors": [{"loc": ["body", "orders"], "msg": "wrong length or type",
                                    "type": "orders_batch"}]},
        )
    return True, [_parse(index, raw) for index, raw in enumerate(orders)]


def _errors(reasons: list[Reason]) -> list[OrderError]:
    return [OrderError(field=r.field, code=r.code, message=r.message) for r in reasons]


def _result(item: ItemResult) -> OrderResult:
    order = item.order
    return OrderResult(
        index=item.index, idempotency_key=item.idempotency_key, outcome=item.outcome,
        id=order.id if order else None, status=order.status if order else None,
        kid=order.kid if order else None, errors=_errors(item.errors),
    )


@router.post(
    "",
    response_model=OrderOut | OrderResults,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": OrderResults, "description": "A batch, or an exact repeat"},
               **problem_responses(401, 409, 413, 422)},
    summary="Send one order or a batch of orders (bill cards)",
    description=_BODY_DOC,
)
async def post_orders(
    response: Response,
    payload: dict[str, Any] = Body(description=_BODY_DOC),
    caller: EpjCaller = Depends(require_epj),
    services: Services = Depends(get_services),
) -> OrderOut | OrderResults:
    batch, items = _split(payload)
    now = services.clock.now()
    timing = services.runtime.timing

    def work(session: Session) -> tuple[list[ItemResult], OrderOut | None]:
        results = take_orders(session, caller, items, timing, now)
        single = results[0] if not batch else None
        if single is not None and single.order is not None:
            return results, order_out(session, single.order)
        return results, None

    try:
        results, view = await services.db.run_check_then_insert(work)
    except IdempotencyConflict as exc:
        raise ProblemError(
            IDEMPOTENCY_CONFLICT,
            f"idempotency key {exc.idempotency_key!r} was already used for a different order; "
            "an accepted order cannot change (send a credit instead); nothing in this request "
            "was stored",
            extensions={"idempotency_key": exc.idempotency_key},
        ) from exc
    created = sum(r.outcome == "created" for r in results)
    rejected = sum(r.outcome == "rejected" for r in results)
    log.info("orders received", clinic_id=caller.clinic_id, client_id=caller.client_id,
             created=created, rejected=rejected, duplicates=len(results) - created - rejected)
    if batch:
        response.status_code = status.HTTP_200_OK
        return OrderResults(results=[_result(r) for r in results])
    single = results[0]
    if single.outcome == "rejected":
        raise ProblemError(
            ORDER_REJECTED,
            "the order breaks " + "; ".join(r.message for r in single.errors[:3])
            + ("" if len(single.errors) <= 3 else f" and {len(single.errors) - 3} more")
            + ". Nothing was stored: correct it and send it again.",
            extensions={"idempotency_key": single.idempotency_key,
                        "errors": [e.model_dump() for e in _errors(single.errors)]},
        )
    if single.outcome == "duplicate":
        response.status_code = status.HTTP_200_OK
    assert view is not None
    return view


@router.get("/{order_id}", response_model=OrderOut, responses=problem_responses(401, 404),
            summary="An order's status and history")
async def get_order(
    order_id: str = Path(max_length=36),
    caller: EpjCaller = Depends(require_epj),
    services: Services = Depends(get_services),
) -> OrderOut:
    view = await services.db.run(lambda s: get_order_out(s, caller.clinic_id, order_id))
    if view is None:
        raise ProblemError(NOT_FOUND, f"no order {order_id!r} for this clinic")
    return view


@router.get("", response_model=OrderPage, responses=problem_responses(401, 422),
            summary="The clinic's orders, newest first")
async def get_orders(
    status_filter: str | None = Query(None, alias="status", pattern="^(" +
                                      "|".join(ORDER_STATUSES) + ")$"),
    external_reference: str | None = Query(None, max_length=100),
    page: PageRequest = Depends(page_request),
    caller: EpjCaller = Depends(require_epj),
    services: Services = Depends(get_services),
) -> OrderPage:
    items, last = await services.db.run(lambda s: list_orders(
        s, caller.clinic_id, page, status_filter, external_reference))
    return OrderPage(items=items, next=next_cursor(last))


# Credits: give back all or part of a paid or invoiced order (docs/checkout.md, "Credits").

_KEY_PATTERN = r"^[!-~]+$"


def _credit_problem(exc: CreditError) -> ProblemError:
    problem = NOT_FOUND if exc.status == 404 else ProblemType(
        exc.problem_type, exc.title, exc.status)
    return ProblemError(problem, exc.detail, extensions=exc.extensions)


@router.post(
    "/{order_id}/credits", response_model=CreditPosted, status_code=status.HTTP_201_CREATED,
    responses={200: {"model": CreditPosted, "description": "An exact repeat"},
               **problem_responses(401, 404, 409, 422)},
    summary="Credit an order fully or partly",
    description="Card and Vipps: refunded to the patient and deducted from the clinic's next "
                "settlement. Invoices: a credit note on the claim (a bought invoice is also "
                "deducted from the clinic's next settlement). Needs an `Idempotency-Key` "
                "header: a repeat with the same body answers 200 with the stored credit, "
                "with another body 409 `idempotency-conflict`.",
)
async def post_credit(
    response: Response,
    body: CreditIn,
    order_id: str = Path(max_length=36),
    idempotency_key: str = Header(alias="Idempotency-Key", min_length=3, max_length=200,
                                  pattern=_KEY_PATTERN),
    caller: EpjCaller = Depends(require_epj),
    services: Services = Depends(get_services),
) -> CreditPosted:
    now = services.clock.now()

    def work(session: Session) -> CreditResult:
        return credit_order(
            session, clinic_id=caller.clinic_id, order_id=order_id, amount=body.amount,
            reason=body.reason, idempotency_key=idempotency_key,
            actor=f"epj:{caller.client_id}", now=now)

    try:
        result = await services.db.run_check_then_insert(work)
    except CreditError as exc:
        raise _credit_problem(exc) from exc
    if result.created:
        log.info("order credited", clinic_id=caller.clinic_id, order_id=order_id,
                 credit_id=result.credit_id, amount=result.amount,
                 method=result.credit.target)
    else:
        response.status_code = status.HTTP_200_OK
    return credit_posted(result.credit, result.credited_total, result.creditable)


@router.get("/{order_id}/credits", response_model=CreditList,
            responses=problem_responses(401, 404), summary="An order's credits")
async def get_credits(
    order_id: str = Path(max_length=36),
    caller: EpjCaller = Depends(require_epj),
    services: Services = Depends(get_services),
) -> CreditList:
    try:
        found = await services.db.run(
            lambda s: list_credits(s, clinic_id=caller.clinic_id, order_id=order_id))
    except CreditError as exc:
        raise _credit_problem(exc) from exc
    return credit_list(found)
