"""The pages behind the payment link of a dunning SMS (Norwegian): what is owed today, card or
Vipps, and the answers after paying."""

from __future__ import annotations

from fastapi.responses import HTMLResponse

from medipay_backend.checkout import pages
from medipay_backend.checkout.html import e, form, page
from medipay_backend.invoicing.claim_checkout import ClaimSummary
from medipay_backend.localtime import kroner


def _date(summary: ClaimSummary) -> str:
    return summary.today.strftime("%d.%m.%Y")


def _lines(summary: ClaimSummary) -> str:
    owed = summary.owed
    rows = [("Fakturabeløp", owed.principal), ("Fakturagebyr", owed.invoice_fee),
            ("Purregebyr og inkassosalær", owed.fees),
            (f"Forsinkelsesrente til {_date(summary)}", owed.interest)]
    cells = "".join(f"<tr><td>{e(text)}</td><td>{e(kroner(amount))}</td></tr>"
                    for text, amount in rows if amount)
    return f'<table class="lines">{cells}</table>'


def landing(token: str, summary: ClaimSummary) -> HTMLResponse:
    due = summary.due_date.strftime("%d.%m.%Y")
    when = "forfalt" if summary.due_date < summary.today else "forfaller"
    return page("Betal faktura", f"""
<div class="card">
<p class="muted">{e(summary.issuer)}</p>
<h1>Faktura {e(summary.invoice_number)}</h1>
<p>{e(summary.description)}</p>
{_lines(summary)}
<p>Å betale i dag, {e(_date(summary))}</p>
<p class="amount">{e(kroner(summary.total))}</p>
<p class="muted">Fakturaen {when} {e(due)}. Etter forfall påløper det forsinkelsesrente
hver dag til fakturaen er betalt.</p>
{form(f"/f/{token}/kort", "Betal med kort")}
{form(f"/f/{token}/vipps", "Betal med Vipps")}
<p class="muted">Du kan også betale i nettbanken til konto {e(summary.account)} med
KID {e(summary.kid)}.</p>
</div>""")


def paid(summary: ClaimSummary) -> HTMLResponse:
    return page("Betalt", f"""
<div class="card" role="status">
<h1 class="ok">Takk! Fakturaen er betalt</h1>
<p>Faktura {e(summary.invoice_number)} fra {e(summary.issuer)} er betalt. Du trenger ikke
gjøre noe mer.</p>
</div>""")


def closed(summary: ClaimSummary) -> HTMLResponse:
    if summary.state == "credited":
        title, text = ("Fakturaen er kreditert",
                       "Fakturaen er kreditert, og det er ingenting å betale.")
    else:
        title, text = ("Fakturaen er trukket tilbake",
                       f"{summary.issuer} har stoppet kravet. Du skal ikke betale noe her.")
    return page(title, f"""
<div class="card">
<h1>{e(title)}</h1>
<p>{e(text)} Har du spørsmål om faktura {e(summary.invoice_number)}, kontakt
{e(summary.issuer)}.</p>
</div>""", status_code=410)


def declined(token: str, text: str) -> HTMLResponse:
    return page("Ikke gjennomført", f"""
<div class="card">
<h1 class="bad">Betalingen gikk ikke gjennom</h1>
<p>{e(text)} Du er ikke belastet.</p>
<a class="button" href="/f/{e(token)}">Prøv igjen</a>
</div>""")


def amount_changed(token: str) -> HTMLResponse:
    return page("Beløpet er endret", f"""
<div class="card">
<h1>Beløpet er endret</h1>
<p>Beløpet å betale er endret siden du startet betalingen, og betalingen er avbrutt. Du er
ikke belastet. Se det nye beløpet og betal på nytt.</p>
<a class="button" href="/f/{e(token)}">Se beløpet</a>
</div>""", status_code=409)


def unavailable(token: str) -> HTMLResponse:
    return pages.provider_unreachable(
        "Betalingen kunne ikke gjennomføres nå",
        "Vi fikk ikke kontakt med betalingstjenesten. Du er ikke belastet. Prøv igjen om litt.",
        f"/f/{token}")
