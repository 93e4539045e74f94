"""An order's status changes and history entries, with the Norwegian texts EPJs show.

Every status change goes through `record`, which writes the history entry in the same
transaction, so the history an EPJ sees always explains the status it sees.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from medipay_backend.localtime import kroner
from medipay_backend.models_orders import Order, OrderEvent

STATUS_TEXTS = {
    "accepted": "Mottatt, betalingslenken er ikke sendt ennå",
    "awaiting_payment": "Sendt til pasienten på SMS, venter på betaling",
    "paid": "Betalt",
    "invoice_chosen": "Pasienten valgte faktura i betalingsløsningen",
    "invoiced": "Faktura opprettet",
    "manual_handling": "Avvist, må behandles manuelt",
}
METHOD_TEXTS = {"card": "Betalt med kort", "vipps": "Betalt med Vipps"}
EVENT_TEXTS = {
    "received": "Regningen er mottatt",
    "sms_sent": "SMS med betalingslenke er sendt",
    "sms_failed": "SMS kunne ikke sendes",
    "sms_delivered": "SMS er levert til telefonen",
    "sms_undelivered": "SMS ble ikke levert",
    "reminder_sent": "Påminnelse er sendt på SMS",
    "payment_declined": "Betalingen ble avvist",
    "paid": "Betalt",
    "invoice_chosen": "Pasienten valgte faktura",
    "invoice_declined": "Faktura i betalingsløsningen ble ikke innvilget",
    "deadline_passed": "Fristen for å betale gikk ut",
    "invoice_created": "Faktura opprettet",
    "manual_handling": "Avvist, må behandles manuelt",
    "credited": "Kreditert",
}
REASON_TEXTS = {
    "company_payer": "Bedrifter faktureres alltid gjennom Fakturaservice",
    "other_payer": "Annen betaler faktureres alltid gjennom Fakturaservice",
    "no_national_id": "Pasienten har ikke fødselsnummer; faktureres gjennom Fakturaservice",
    "minor_under_16": "Pasienten er under 16 år; fakturaen går til foresatte",
    "always_fakturaservice": "Klinikken ba om Fakturaservice",
    "amount_over_limit": "Beløp over 3 000 kroner faktureres gjennom Fakturaservice",
    "good_score": "MediPay kjøper kravet",
    "poor_score": "Kravet kjøpes ikke; faktureres gjennom Fakturaservice",
    "missing_address": "Adresse mangler, fakturaen kan ikke sendes",
    "fakturaservice_unavailable": "Fakturaservice er ikke en del av avtalen",
    "score_failed_no_fakturaservice":
        "Kredittvurderingen ga ikke godkjenning, og Fakturaservice er ikke en del av avtalen",
    "checkout_invoice": "Kredittsjekk godkjent; MediPay kjøper kravet",
}


def status_text(order: Order) -> str:
    if order.status == "paid" and order.payment_method in METHOD_TEXTS:
        return METHOD_TEXTS[order.payment_method]
    return STATUS_TEXTS[order.status]


def event_text(event: str, detail: dict[str, Any]) -> str:
    text = EVENT_TEXTS.get(event, event)
    method = detail.get("method")
    if event == "paid" and method in METHOD_TEXTS:
        text = METHOD_TEXTS[method]
    if event == "credited" and isinstance(detail.get("amount"), int):
        text = f"{text} {kroner(detail['amount'])}"
    reason = detail.get("reason")
    if reason in REASON_TEXTS:
        text = f"{text}: {REASON_TEXTS[reason]}"
    return text


def record(
    session: Session,
    order: Order,
    event: str,
    now: datetime,
    *,
    status: str | None = None,
    **detail: Any,
) -> None:
    """Add a history entry; with `status`, move the order to it in the same transaction."""
    if status is not None:
        order.status = status
        order.updated_at = now
    session.add(OrderEvent(order_id=order.id, at=now, event=event, detail=detail))
