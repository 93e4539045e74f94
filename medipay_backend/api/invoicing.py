"""The operator's invoicing API: issue invoices, run dunning, import OCR files, act on claims
(stop, complaint, credit note), read documents, handle the suspense list (apply an item to a
claim, refund it, or mark it handled and book its money out) and the outstanding report.
Every route needs the operator token."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from typing import TypeVar

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, Request, Response
from sqlalchemy.orm import Session

from medipay_backend.auth import require_admin
from medipay_backend.deps import Services, get_services
from medipay_backend.domain.ocr import OcrError
from medipay_backend.invoicing import claims as claim_actions
from medipay_backend.invoicing import suspense as suspense_actions
from medipay_backend.invoicing.dunning_runner import run_all
from medipay_backend.invoicing.issuing import issue_pending
from medipay_backend.invoicing.payments_in import import_ocr
from medipay_backend.invoicing.render import invoice_pdf, letter_pdf
from medipay_backend.invoicing.reports import outstanding_claims
from medipay_backend.invoicing.schemas import (
    ClaimEventOut,
    ClaimOut,
    CreditIn,
    DunningRunResult,
    IssueResult,
    NoteIn,
    OcrImportResult,
    OutstandingOut,
    OutstandingRowOut,
    StopIn,
    SuspenseApplied,
    SuspenseApplyIn,
    SuspenseOut,
    SuspenseRefundIn,
    SuspenseResolveIn,
)
from medipay_backend.localtime import oslo_date
from medipay_backend.models_invoicing import Claim, ClaimEvent, IncomingPayment, SuspenseItem
from medipay_backend.problems import (
    IDEMPOTENCY_CONFLICT,
    NOT_FOUND,
    ProblemError,
    ProblemType,
    problem_responses,
)

router = APIRouter(prefix="/v1/invoicing", tags=["invoicing"],
                   dependencies=[Depends(require_admin)])
CLAIM_STATE_CONFLICT = ProblemType("claim-state-conflict", "Not possible in the claim's state",
                                   409)
OCR_FILE_REJECTED = ProblemType("ocr-file-rejected", "OCR file rejected", 422)
SUSPENSE_RESOLVED = ProblemType("suspense-item-resolved", "Suspense item already resolved", 409)
SUSPENSE_AMOUNT = ProblemType("suspense-amount-not-available",
                              "More than the suspense item holds", 422)
INVALID_BANK_ACCOUNT = ProblemType("invalid-bank-account", "Not a valid bank account", 422)
SUSPENSE_REVERSAL = ProblemType("suspense-item-is-reversal",
                                "A reversal cannot be applied or refunded", 409)
SUSPENSE_DESTINATION_REQUIRED = ProblemType(
    "suspense-destination-required", "Say where the suspense money went", 422)
SUSPENSE_DESTINATION_INVALID = ProblemType(
    "suspense-destination-invalid", "Not a destination suspense money can be booked out to",
    422)
CLAIM_BOUGHT = ProblemType("claim-bought",
                           "A bought claim cannot be stopped or deleted by the clinic", 409)
_SUSPENSE_PROBLEMS = {
    suspense_actions.SuspenseItemNotFound: NOT_FOUND,
    suspense_actions.SuspenseItemResolved: SUSPENSE_RESOLVED,
    suspense_actions.SuspenseItemIsReversal: SUSPENSE_REVERSAL,
    suspense_actions.ClaimNotFound: NOT_FOUND,
    suspense_actions.ClaimNotOpen: CLAIM_STATE_CONFLICT,
    suspense_actions.AmountNotAvailable: SUSPENSE_AMOUNT,
    suspense_actions.InvalidAccount: INVALID_BANK_ACCOUNT,
    suspense_actions.DestinationRequired: SUSPENSE_DESTINATION_REQUIRED,
    suspense_actions.InvalidDestination: SUSPENSE_DESTINATION_INVALID,
}
PDF = "application/pdf"
T = TypeVar("T")


def _claim(session: Session, number: int, *, lock: bool = False) -> Claim:
    query = sa.select(Claim).where(Claim.invoice_number == number)
    # An action locks the row (PostgreSQL): two at once would each check what is left and
    # then both write, crediting more than the claim holds.
    claim = session.scalar(query.with_for_update() if lock else query)
    if claim is None:
        raise ProblemError(NOT_FOUND, f"no invoice number {number}")
    return claim


def _claim_out(session: Session, claim: Claim) -> ClaimOut:
    events = session.scalars(sa.select(ClaimEvent).where(ClaimEvent.claim_seq == claim.seq)
                             .order_by(ClaimEvent.seq)).all()
    return ClaimOut(
        invoice_number=claim.invoice_number, invoice_id=claim.invoice_id,
        clinic_id=claim.clinic_id, route=claim.route, kid=claim.kid,
        issue_date=claim.issue_date, due_date=claim.due_date, state=claim.state,
        paused=claim.paused, stage=claim.stage, principal=claim.principal,
        invoice_fee=claim.invoice_fee, fees_charged=claim.fees_charged,
        paid=claim.paid_fees + claim.paid_interest + claim.paid_invoice_fee
        + claim.paid_principal,
        credited=claim.credited_principal + claim.credited_invoice_fee,
        next_action_on=claim.next_action_on,
        events=[ClaimEventOut(kind=e.kind, step_id=e.step_id, on_date=e.on_date,
                              amount=e.amount, interest=e.interest, detail=e.detail)
                for e in events],
    )


@router.post("/issue", response_model=IssueResult, responses=problem_responses(401))
async def issue(services: Services = Depends(get_services)) -> IssueResult:
    now = services.clock.now()
    claims = await services.db.run(lambda s: issue_pending(s, now))
    return IssueResult(issued=[c.invoice_number for c in claims])


@router.post("/dunning-runs", response_model=DunningRunResult, responses=problem_responses(401))
async def dunning_run(services: Services = Depends(get_services)) -> DunningRunResult:
    now = services.clock.now()
    today = oslo_date(now)
    lookup = services.runtime.bureau.registered_address
    summary = await services.db.run(lambda s: run_all(s, today, now, lookup=lookup))
    return DunningRunResult(day=today, claims=summary.claims, actions=dict(summary.actions),
                            fees=summary.fees)


@router.post("/ocr-imports", response_model=OcrImportResult,
             responses=problem_responses(401, 422),
             summary="Import an OCR giro file (Nets format) sent as the request body")
async def ocr_import(request: Request,
                     services: Services = Depends(get_services)) -> OcrImportResult:
    text = (await request.body()).decode("latin-1")
    now = services.clock.now()
    try:
        summary = await services.db.run(lambda s: import_ocr(s, text, now))
    except OcrError as exc:
        raise ProblemError(OCR_FILE_REJECTED, str(exc)) from exc
    return OcrImportResult(**{**asdict(summary),
                              "suspense_reasons": dict(summary.suspense_reasons)})


@router.get("/claims/{number}", response_model=ClaimOut, responses=problem_responses(401, 404))
async def get_claim(number: int, services: Services = Depends(get_services)) -> ClaimOut:
    return await services.db.run(lambda s: _claim_out(s, _claim(s, number)))


@router.get("/claims/{number}/invoice.pdf", response_class=Response,
            responses=problem_responses(401, 404))
async def get_invoice_pdf(number: int, services: Services = Depends(get_services)) -> Response:
    body = await services.db.run(lambda s: invoice_pdf(s, _claim(s, number)))
    return Response(body, media_type=PDF)


@router.get("/claims/{number}/letters/{step_id}.pdf", response_class=Response,
            responses=problem_responses(401, 404))
async def get_letter_pdf(number: int, step_id: str,
                         services: Services = Depends(get_services)) -> Response:
    def work(session: Session) -> bytes:
        claim = _claim(session, number)
        event = session.scalar(sa.select(ClaimEvent).where(
            ClaimEvent.claim_seq == claim.seq, ClaimEvent.step_id == step_id,
            ClaimEvent.kind == "letter"))
        if event is None:
            raise ProblemError(NOT_FOUND, f"invoice {number} has no letter {step_id!r}")
        return letter_pdf(session, claim, event)

    return Response(await services.db.run(work), media_type=PDF)


def _act(services: Services, number: int,
         action: Callable[[Session, Claim], object]) -> Callable[[Session], ClaimOut]:
    def work(session: Session) -> ClaimOut:
        claim = _claim(session, number, lock=True)
        try:
            action(session, claim)
        except claim_actions.ClaimBought as exc:
            raise ProblemError(CLAIM_BOUGHT, str(exc)) from exc
        except claim_actions.ActionKeyConflict as exc:
            raise ProblemError(IDEMPOTENCY_CONFLICT, str(exc)) from exc
        except claim_actions.ClaimActionError as exc:
            raise ProblemError(CLAIM_STATE_CONFLICT, str(exc)) from exc
        session.flush()
        return _claim_out(session, claim)

    return work


@router.post("/claims/{number}/stop", response_model=ClaimOut,
             responses=problem_responses(401, 404, 409, 422))
async def stop_claim(number: int, body: StopIn,
    idempotency_key: str | None = Header(
        None, alias="Idempotency-Key", min_length=3, max_length=200, pattern=r"^[!-~]+$",
        description="Optional: a repeat with the same key and body answers with the claim and "
                    "does nothing again; with another body 409 `idempotency-conflict`."),
                     services: Services = Depends(get_services)) -> ClaimOut:
    now = services.clock.now()
    return await services.db.run(_act(services, number, lambda s, c: claim_actions.stop(
        s, c, oslo_date(now), now, delete=body.delete, reason=body.reason,
        idempotency_key=idempotency_key)))


@router.post("/claims/{number}/complaint", response_model=ClaimOut,
             responses=problem_responses(401, 404, 409, 422))
async def complain(number: int, body: NoteIn,
    idempotency_key: str | None = Header(
        None, alias="Idempotency-Key", min_length=3, max_length=200, pattern=r"^[!-~]+$",
        description="Optional: a repeat with the same key and body answers with the claim and "
                    "does nothing again; with another body 409 `idempotency-conflict`."),
                   services: Services = Depends(get_services)) -> ClaimOut:
    now = services.clock.now()
    return await services.db.run(_act(services, number, lambda s, c: claim_actions.complain(
        s, c, oslo_date(now), now, body.note, idempotency_key)))


@router.post("/claims/{number}/complaint/resolve", response_model=ClaimOut,
             responses=problem_responses(401, 404, 409, 422))
async def resolve(number: int, body: NoteIn,
    idempotency_key: str | None = Header(
        None, alias="Idempotency-Key", min_length=3, max_length=200, pattern=r"^[!-~]+$",
        description="Optional: a repeat with the same key and body answers with the claim and "
                    "does nothing again; with another body 409 `idempotency-conflict`."),
                  services: Services = Depends(get_services)) -> ClaimOut:
    now = services.clock.now()
    return await services.db.run(_act(
        services, number, lambda s, c: claim_actions.resolve_complaint(
            s, c, oslo_date(now), now, body.note, idempotency_key)))


@router.post("/claims/{number}/credit-notes", response_model=ClaimOut, status_code=201,
             responses=problem_responses(401, 404, 409, 422))
async def credit_note(
    number: int, body: CreditIn,
    idempotency_key: str = Header(
        alias="Idempotency-Key", min_length=3, max_length=200, pattern=r"^[!-~]+$",
        description="A repeat with the same key and body answers with the credit note it "
                    "made (nothing is credited twice); with another body 409 "
                    "`idempotency-conflict`."),
    services: Services = Depends(get_services),
) -> ClaimOut:
    now = services.clock.now()
    return await services.db.run(_act(services, number, lambda s, c: claim_actions.credit(
        s, c, oslo_date(now), now, amount=body.amount, reason=body.reason,
        idempotency_key=idempotency_key)))


@router.get("/suspense", response_model=list[SuspenseOut], responses=problem_responses(401))
async def suspense(services: Services = Depends(get_services)) -> list[SuspenseOut]:
    def work(session: Session) -> list[SuspenseOut]:
        items = session.scalars(sa.select(SuspenseItem).where(SuspenseItem.resolved_at.is_(None))
                                .order_by(SuspenseItem.seq)).all()
        return [_suspense_out(session, item) for item in items]

    return await services.db.run(work)


@router.get("/clinics/{clinic_id}/outstanding", response_model=OutstandingOut,
            responses=problem_responses(401, 422))
async def outstanding(clinic_id: str, at: date | None = None,
                      services: Services = Depends(get_services)) -> OutstandingOut:
    day = at or oslo_date(services.clock.now())
    rows = await services.db.run(lambda s: outstanding_claims(s, clinic_id, day))
    items = [OutstandingRowOut(**asdict(row)) for row in rows]
    return OutstandingOut(clinic_id=clinic_id, at=day,
                          receivable=sum(r.receivable for r in items), items=items)


def _suspense_out(session: Session, item: SuspenseItem) -> SuspenseOut:
    payment = session.get(IncomingPayment, item.payment_seq)
    if payment is None:  # pragma: no cover - a foreign key guarantees it
        raise ProblemError(NOT_FOUND, f"no payment for suspense item {item.seq}")
    applied_to = None
    if item.claim_seq is not None:
        applied_to = session.scalar(
            sa.select(Claim.invoice_number).where(Claim.seq == item.claim_seq))
    return SuspenseOut(id=item.seq, reason=item.reason, kid=item.kid, amount=item.amount,
                       paid_on=payment.paid_on, source_ref=payment.source_ref,
                       resolution=item.resolution, applied_to=applied_to,
                       refund_account=item.refund_account, note=item.note,
                       booked_out_to=suspense_actions.booked_out_to(session, item))


def _suspense_action(work: Callable[[Session], T]) -> Callable[[Session], T]:
    """Run an operator's suspense action; its typed errors become problems (nothing is
    changed: the transaction rolls back)."""
    def run(session: Session) -> T:
        try:
            return work(session)
        except suspense_actions.SuspenseError as exc:
            raise ProblemError(_SUSPENSE_PROBLEMS[type(exc)], str(exc)) from exc

    return run


@router.get("/suspense/not-booked-out", response_model=list[SuspenseOut],
            responses=problem_responses(401),
            summary="Items marked handled by hand whose money is still in suspense")
async def suspense_not_booked_out(
        services: Services = Depends(get_services)) -> list[SuspenseOut]:
    return await services.db.run(lambda s: [
        _suspense_out(s, item) for item in suspense_actions.not_booked_out(s)])


@router.post("/suspense/{item_id}/resolve", response_model=SuspenseOut,
             responses=problem_responses(401, 404, 409, 422),
             summary="Mark a suspense item handled by hand, booking its money out of suspense "
                     "to where it went")
async def resolve_suspense(item_id: int, body: SuspenseResolveIn,
                           services: Services = Depends(get_services)) -> SuspenseOut:
    now = services.clock.now()
    return await services.db.run(_suspense_action(lambda s: _suspense_out(
        s, suspense_actions.mark_handled(s, item_id, body.note, now, to=body.to,
                                         reference=body.reference))))


@router.post("/suspense/{item_id}/apply", response_model=SuspenseApplied,
             responses=problem_responses(401, 404, 409, 422),
             summary="Apply a suspense item (or part of it) to a claim, allocated as a payment")
async def apply_suspense(item_id: int, body: SuspenseApplyIn,
                         services: Services = Depends(get_services)) -> SuspenseApplied:
    now = services.clock.now()

    def work(session: Session) -> SuspenseApplied:
        done = suspense_actions.apply_item(session, item_id, body.invoice_number, body.amount,
                                           body.note, now)
        remainder = done.remainder
        return SuspenseApplied(
            item=_suspense_out(session, done.item),
            remainder=None if remainder is None else _suspense_out(session, remainder),
            claim=_claim_out(session, done.claim))

    return await services.db.run(_suspense_action(work))


@router.post("/suspense/{item_id}/refund", response_model=SuspenseOut,
             responses=problem_responses(401, 404, 409, 422),
             summary="Record that a suspense item is paid back to the payer's bank account")
async def refund_suspense(item_id: int, body: SuspenseRefundIn,
                          services: Services = Depends(get_services)) -> SuspenseOut:
    now = services.clock.now()
    return await services.db.run(_suspense_action(lambda s: _suspense_out(
        s, suspense_actions.refund_item(s, item_id, body.account, body.note, now))))
