"""`medipay backend credits ...`: credits on orders whose refund to the card or Vipps
failed — listing them, queueing them again, recording a refund paid by hand."""

from __future__ import annotations

from typing import Annotated

import typer

from medipay_backend.cli_common import ConfigOption, _fail, _with_database, console

credits_app = typer.Typer(
    help="Credits on orders: refunds to cards and Vipps that the providers would not take.",
    no_args_is_help=True,
)


@credits_app.command("failed-refunds")
def credits_failed_refunds(config: ConfigOption = None) -> None:
    """Credits whose refund to the card or Vipps failed after every retry."""
    import sqlalchemy as sa

    from medipay_backend.localtime import kroner
    from medipay_backend.models_credits import OrderCredit

    rows = _with_database(config, lambda s, now, _: [
        (c.id, c.clinic_id, c.order_id, c.target, c.amount, c.refund_attempts, c.refund_error)
        for c in s.scalars(sa.select(OrderCredit).where(OrderCredit.refund_status == "failed")
                           .order_by(OrderCredit.seq))])
    # One line per credit, never wrapped or cut: the ids are copied into `retry-refund`.
    typer.echo(f"{len(rows)} failed refund(s)")
    for credit_id, clinic, order_id, method, amount, attempts, error in rows:
        typer.echo(f"{credit_id}  clinic={clinic} order={order_id} {method} "
                   f"{kroner(amount, ' ')} attempts={attempts} last error: {error or '-'}")


@credits_app.command("retry-refund")
def credits_retry_refund(credit_id: str, config: ConfigOption = None) -> None:
    """Queue a failed refund again; the running backend's scheduler sends it."""
    from medipay_backend.credit_refunds import RefundNotRetryable, retry_refund

    try:
        _with_database(config, lambda s, now, _: retry_refund(s, credit_id, now))
    except RefundNotRetryable as exc:
        _fail(str(exc))
    console.print(f"refund of credit {credit_id} queued again")


@credits_app.command("paid-by-hand")
def credits_paid_by_hand(
    credit_id: str,
    reference: Annotated[str, typer.Option(help="How the patient was paid, e.g. the bank "
                                           "transfer's id (1-80 characters).")],
    config: ConfigOption = None,
) -> None:
    """Record that a failed refund was paid to the patient outside MediPay: books it from
    refunds owed to the bank and marks the refund refunded. Once per credit."""
    from medipay_backend.credit_refunds import PaidByHandRefused, record_paid_by_hand
    from medipay_backend.localtime import kroner

    try:
        done = _with_database(
            config, lambda s, now, _: record_paid_by_hand(s, credit_id, reference, now))
    except PaidByHandRefused as exc:
        typer.echo(str(exc))  # not wrapped: the credit id stays whole
        raise typer.Exit(1) from exc
    if not done.created:
        typer.echo(f"refund of credit {done.credit_id} was already recorded as paid by hand "
                   f"(reference {done.reference}); nothing changed")
        return
    typer.echo(f"refund of credit {done.credit_id} recorded as paid by hand: "
               f"{kroner(done.amount, ' ')} from provider:refunds-owed to provider:bank "
               f"(transfer {done.transfer_id}, reference {done.reference})")
