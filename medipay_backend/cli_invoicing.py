"""`medipay backend` invoicing commands (issue-invoices, dunning-run, import-ocr,
outstanding, deliver) and `suspense ...` for payments no claim could take. cli.py registers
the top-level ones on the backend app and adds the suspense app."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from medipay_backend.cli_common import ConfigOption, _fail, _with_database, console


def backend_issue_invoices(config: ConfigOption = None) -> None:
    """Issue every invoice record without a number yet (number, KID, dates, claim)."""
    from medipay_backend.invoicing.issuing import issue_pending

    numbers = _with_database(config, lambda s, now, _: [
        c.invoice_number for c in issue_pending(s, now, limit=1_000_000)])
    console.print(f"issued {len(numbers)} invoices")


def backend_dunning_run(config: ConfigOption = None) -> None:
    """Run today's dunning: every claim with a step due gets it done and recorded."""
    from medipay_backend.invoicing.dunning_runner import run_all
    from medipay_backend.localtime import oslo_date

    summary = _with_database(config, lambda s, now, _: run_all(s, oslo_date(now), now))
    console.print(f"claims: {summary.claims}  actions: {dict(summary.actions)}  "
                  f"fees: {summary.fees} øre", markup=False)


def backend_import_ocr(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    config: ConfigOption = None,
) -> None:
    """Import an OCR giro file (Nets format): match by KID, allocate, suspense the rest."""
    from medipay_backend.domain.ocr import OcrError
    from medipay_backend.invoicing.payments_in import import_ocr

    text = file.read_text(encoding="latin-1")
    try:
        summary = _with_database(config, lambda s, now, _: import_ocr(s, text, now))
    except OcrError as exc:
        _fail(f"{file}: {exc}")
        return
    console.print(
        f"transmission {summary.transmission}: {summary.payments} payments "
        f"({summary.duplicates} already imported), {summary.matched} matched, "
        f"{summary.amount} øre, {summary.to_suspense} øre to suspense "
        f"{dict(summary.suspense_reasons)}", markup=False)


def backend_outstanding(
    clinic_id: str,
    at: Annotated[str, typer.Option(help="YYYY-MM-DD; default today")] = "",
    config: ConfigOption = None,
) -> None:
    """Outstanding Fakturaservice claims of a clinic at a date (its receivables)."""
    from datetime import date

    from medipay_backend.invoicing.reports import outstanding_claims
    from medipay_backend.localtime import kroner, oslo_date

    rows = _with_database(config, lambda s, now, _: outstanding_claims(
        s, clinic_id, date.fromisoformat(at) if at else oslo_date(now)))
    table = Table("invoice", "due", "age", "stage", "receivable (kr)")
    for row in rows:
        table.add_row(str(row.invoice_number), row.due_date.isoformat(), str(row.age_days),
                      row.stage, kroner(row.receivable, " "))
    console.print(table)
    console.print(f"total: {kroner(sum(r.receivable for r in rows), ' ')} kr")


def backend_deliver(
    out: Annotated[Path | None, typer.Option(
        help="Directory for the print batches, EHF and eFaktura files. Default: the "
             "[invoicing] configuration")] = None,
    smtp_host: Annotated[str, typer.Option(help="Default: [smtp] host; empty there: no "
                                                "e-mail, paper instead")] = "",
    smtp_port: int = 25,
    smtp_from: str = "faktura@medipay.invalid",
    letters_day: Annotated[str, typer.Option(help="YYYY-MM-DD: also print that day's "
                                                  "letters")] = "",
    config: ConfigOption = None,
) -> None:
    """Deliver issued invoices not delivered yet (EHF, eFaktura for the national IDs in the
    configured acceptance file, e-mail or paper) and print a day's dunning letters. The
    daily job does the same every morning; this is for a manual run."""
    from datetime import date

    from medipay_backend.config import load_backend_config
    from medipay_backend.invoicing.delivery import (
        Channels,
        SmtpSettings,
        deliver_pending,
        print_letters,
    )
    from medipay_backend.invoicing.settings import FileEfaktura, InvoicingSettings

    settings = load_backend_config(config)
    where = settings.invoicing.settings(settings.data_dir)
    if out is not None:
        where = InvoicingSettings(out / "print", out / "ehf", out / "efaktura",
                                  where.efaktura_accepted_file)
    smtp = (SmtpSettings(smtp_host, smtp_port, smtp_from) if smtp_host
            else settings.smtp.settings())

    def work(session: Any, now: Any, _: str) -> tuple[dict[str, int], int]:
        from medipay_backend.localtime import oslo_date

        channels = Channels(efaktura=FileEfaktura.load(where, oslo_date(now)), smtp=smtp,
                            print_dir=where.print_dir, ehf_outbox=where.ehf_outbox)
        counts = deliver_pending(session, channels, now, limit=1_000_000)
        printed = (print_letters(session, date.fromisoformat(letters_day), channels, now)
                   if letters_day else 0)
        return counts, printed

    counts, printed = _with_database(config, work)
    console.print(f"invoices delivered: {counts}  letters printed: {printed}", markup=False)
    if counts.get("deferred"):
        console.print("e-mail could not be sent now; run again later for the deferred ones")


suspense_app = typer.Typer(help="Payments no claim could take: list, apply to a claim, refund.",
                           no_args_is_help=True)


@suspense_app.command("list")
def suspense_list(config: ConfigOption = None) -> None:
    """Unresolved suspense items (unknown KID, overpayment, closed claim, ...)."""
    import sqlalchemy as sa

    from medipay_backend.localtime import kroner
    from medipay_backend.models_invoicing import IncomingPayment, SuspenseItem

    rows = _with_database(config, lambda s, now, _: [
        (item.seq, item.reason, item.kid or "", item.amount, payment.paid_on.isoformat())
        for item, payment in s.execute(
            sa.select(SuspenseItem, IncomingPayment)
            .join(IncomingPayment, IncomingPayment.seq == SuspenseItem.payment_seq)
            .where(SuspenseItem.resolved_at.is_(None)).order_by(SuspenseItem.seq))])
    table = Table("id", "reason", "KID", "amount (kr)", "paid on")
    for seq, reason, kid, amount, paid_on in rows:
        table.add_row(str(seq), reason, kid, kroner(amount, " "), paid_on)
    console.print(table)


def _suspense(work: Callable[[Any, Any], str], config: Path | None) -> None:
    from medipay_backend.invoicing.suspense import SuspenseError

    try:
        message = _with_database(config, lambda s, now, _: work(s, now))
    except SuspenseError as exc:
        _fail(str(exc))
        return
    console.print(message, markup=False, soft_wrap=True)


@suspense_app.command("apply")
def suspense_apply(
    item: int, invoice_number: int,
    amount: Annotated[int | None, typer.Option(help="Øre; default: the whole item")] = None,
    note: str = "", config: ConfigOption = None,
) -> None:
    """Apply a suspense item to a claim: allocated as a payment on the day it was paid."""
    from medipay_backend.invoicing.suspense import apply_item

    def work(session: Any, now: Any) -> str:
        done = apply_item(session, item, invoice_number, amount, note or None, now)
        left = f"; {done.remainder.amount} øre left as item {done.remainder.seq}" \
            if done.remainder else ""
        return (f"item {item} applied to invoice {invoice_number} ({done.payment.amount} øre, "
                f"claim {done.claim.state}){left}")

    _suspense(work, config)


@suspense_app.command("refund")
def suspense_refund(item: int, account: str, note: str = "",
                    config: ConfigOption = None) -> None:
    """Record that a suspense item was paid back to the payer's bank account."""
    from medipay_backend.invoicing.suspense import refund_item

    def work(session: Any, now: Any) -> str:
        done = refund_item(session, item, account, note or None, now)
        return f"item {item} refunded: {done.amount} øre to {done.refund_account}"

    _suspense(work, config)


@suspense_app.command("resolve")
def suspense_resolve(
    item: int,
    note: Annotated[str, typer.Option(help="What was done, for the record")],
    to: Annotated[str | None, typer.Option(
        help="Where the money went: bank (paid out of our bank account by hand). Required "
             "unless the item is a reversal")] = None,
    reference: Annotated[str | None, typer.Option(
        help="The reference of that booking, e.g. the bank transaction's")] = None,
    config: ConfigOption = None,
) -> None:
    """Mark a suspense item handled by hand and book its money out of suspense to where it
    went (also books out an item handled earlier whose money is still in suspense)."""
    from medipay_backend.invoicing.suspense import booked_out_to, mark_handled

    def work(session: Any, now: Any) -> str:
        done = mark_handled(session, item, note, now, to=to, reference=reference)
        target = booked_out_to(session, done)
        moved = f": {done.amount} øre booked out to {target}" if target else ""
        return f"item {item} handled{moved}"

    _suspense(work, config)


@suspense_app.command("not-booked-out")
def suspense_not_booked_out(config: ConfigOption = None) -> None:
    """Items marked handled by hand whose money is still in suspense (book them out with
    `suspense resolve ITEM --note ... --to bank --reference ...`)."""
    from medipay_backend.invoicing.suspense import not_booked_out
    from medipay_backend.localtime import kroner

    rows = _with_database(config, lambda s, now, _: [
        (item.seq, item.reason, item.amount, item.note or "") for item in not_booked_out(s)])
    table = Table("id", "reason", "amount (kr)", "note")
    for seq, reason, amount, note in rows:
        table.add_row(str(seq), reason, kroner(amount, " "), note)
    console.print(table)
