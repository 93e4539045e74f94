"""The checkout's pages (Norwegian): what the patient sees at each step."""

from __future__ import annotations

from fastapi.responses import HTMLResponse

from medipay_backend.checkout.html import e, form, page
from medipay_backend.checkout.service import OrderSummary
from medipay_backend.localtime import kroner, oslo_text

METHOD_NAMES = {"card": "kort", "vipps": "Vipps", "invoice": "faktura"}


def _deadline(order: OrderSummary) -> str:
    return oslo_text(order.deadline_at) if order.deadline_at else ""


def landing(token: str, order: OrderSummary) -> HTMLResponse:
    return page("Betaling", f"""
<div class="card">
<p class="muted">{e(order.clinic_name)}</p>
<h1>{e(order.description)}</h1>
<p>Beløp å betale</p>
<p class="amount">{e(kroner(order.amount))}</p>
<p>Betal innen <strong>{e(_deadline(order))}</strong>. Betaler du ikke innen fristen,
får du regningen som faktura.</p>
<a class="button" href="/c/{e(token)}/betal">Velg betalingsmåte</a>
</div>""")


def menu(token: str, order: OrderSummary) -> HTMLResponse:
    invoice = ""
    if order.can_invoice:
        fee = (f" Fakturagebyr på {e(kroner(order.invoice_fee))} kommer i tillegg."
               if order.invoice_fee else "")
        invoice = (f"{form(f'/c/{token}/faktura', 'Få faktura', secondary=True)}"
                   f'<p class="muted">Faktura krever en kredittsjekk.{fee}</p>')
    return page("Velg betalingsmåte", f"""
<div class="card">
<h1>Velg betalingsmåte</h1>
<p class="amount">{e(kroner(order.amount))}</p>
{form(f"/c/{token}/kort", "Betal med kort")}
{form(f"/c/{token}/vipps", "Betal med Vipps")}
{invoice}
</div>""")


def paid(order: OrderSummary) -> HTMLResponse:
    method = METHOD_NAMES.get(order.payment_method or "", "")
    return page("Betalt", f"""
<div class="card" role="status">
<h1 class="ok">Takk! Regningen er betalt</h1>
<p class="amount">{e(kroner(order.amount))}</p>
<p>Betalt med {e(method)} til {e(order.clinic_name)}. Kvittering får du fra klinikken.</p>
</div>""")


def invoice_chosen(order: OrderSummary) -> HTMLResponse:
    total = order.amount + order.invoice_fee
    return page("Faktura", f"""
<div class="card" role="status">
<h1 class="ok">Du får faktura</h1>
<p>Fakturaen på <strong>{e(kroner(total))}</strong> kommer fra MediPay
i nettbanken, på e-post eller i posten.</p>
</div>""")


def expired(order: OrderSummary | None) -> HTMLResponse:
    when = f" gikk ut {e(_deadline(order))}" if order and order.deadline_at else " har gått ut"
    return page("Lenken er utløpt", f"""
<div class="card">
<h1>Lenken er ikke lenger gyldig</h1>
<p>Fristen for å betale her{when}. Du får regningen som faktura, eller klinikken tar
kontakt med deg.</p>
</div>""", status_code=410)


def unknown() -> HTMLResponse:
    return page("Ukjent lenke", """
<div class="card">
<h1>Vi finner ikke denne betalingen</h1>
<p>Sjekk at du åpnet hele lenken fra SMS-en. Har du spørsmål om regningen, kontakt
klinikken.</p>
</div>""", status_code=404)


def declined(token: str, text: str) -> HTMLResponse:
    return page("Ikke gjennomført", f"""
<div class="card">
<h1 class="bad">Betalingen gikk ikke gjennom</h1>
<p>{e(text)}</p>
<a class="button" href="/c/{e(token)}/betal">Prøv en annen betalingsmåte</a>
</div>""", status_code=200)


def waiting(check_again: str) -> HTMLResponse:
    """Vipps has not answered yet; `check_again` is the return address to ask again
    (the same page for both checkouts)."""
    return page("Venter på Vipps", f"""
<div class="card" role="status">
<h1>Venter på svar fra Vipps</h1>
<p>Godkjenn betalingen i Vipps-appen, og kom tilbake hit.</p>
<a class="button" href="{e(check_again)}">Sjekk igjen</a>
</div>""")


def provider_unreachable(heading: str, text: str, back: str) -> HTMLResponse:
    """A payment provider could not be reached (503); each checkout words it its own way."""
    return page("Prøv igjen", f"""
<div class="card">
<h1>{e(heading)}</h1>
<p>{e(text)}</p>
<a class="button" href="{e(back)}">Tilbake</a>
</div>""", status_code=503)


def unavailable(token: str) -> HTMLResponse:
    return provider_unreachable(
        "Betalingen kunne ikke startes",
        "Vi fikk ikke kontakt med betalingstjenesten. Prøv igjen om litt.", f"/c/{token}/betal")
