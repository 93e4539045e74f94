"""The portal's pages about money (Norwegian): transactions, an order with its credits and
claim, settlements with their files, and the outstanding claims report."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi.responses import HTMLResponse

from medipay_backend.checkout.html import e
from medipay_backend.credits import CreditView, OrderCredits
from medipay_backend.invoicing.reports import OutstandingRow
from medipay_backend.localtime import kroner
from medipay_backend.models import PosTransaction
from medipay_backend.models_orders import Order
from medipay_backend.order_events import STATUS_TEXTS, status_text
from medipay_backend.portal.html import PREFIX, day, message, money, page, post_form
from medipay_backend.portal.queries import (
    FailedRefund,
    OrderDetail,
    Page,
    Search,
    SettlementDetail,
)
from medipay_backend.settlement.files import STREAM_TITLES

Nav = tuple[str, str, str, str]

POS_KINDS = {"payment": "Betaling", "refund": "Tilbakebetaling", "reversal": "Reversering"}
POS_STATUSES = {"approved": "Godkjent", "declined": "Avvist", "aborted": "Avbrutt",
                "failed": "Feilet", "reversed": "Reversert"}
CLAIM_STATES = {"open": "Åpent", "paid": "Betalt", "stopped": "Stoppet av klinikken",
                "deleted": "Slettet", "credited": "Kreditert"}
STAGES = {"invoiced": "Fakturert", "overdue": "Forfalt", "reminded": "Purret",
          "collection": "Inkasso", "heavy_collection": "Inkasso, varsel om rettslig inndriving",
          "payment_remark": "Betalingsanmerkning"}
ROUTES = {"bought": "Kjøpt av MediPay", "fakturaservice": "Fakturaservice (klinikkens krav)"}
CREDIT_TARGETS = {"card": "Tilbake til kortet", "vipps": "Tilbake til Vipps",
                  "bought_invoice": "Kreditnota på faktura (kjøpt krav)",
                  "fakturaservice": "Kreditnota på faktura (Fakturaservice)"}
# The refund of a card/Vipps credit, as the clinic sees it (credit_refunds.py).
REFUND_STATES = {"pending": "Refusjon sendes", "refunded": "Refundert",
                 "failed": "Refusjon feilet"}
REFUND_FAILED_HELP = ("Kortinnløseren eller Vipps tok ikke imot refusjonen. Beløpet er "
                      "trukket fra oppgjøret til klinikken, og MediPay skylder det nå "
                      "pasienten. MediPay følger opp og sender refusjonen på nytt; "
                      "klinikken trenger ikke å kreditere igjen.")
FILE_TITLES = {"pdf": "Balance Report (PDF)", "csv": "Balance Report (CSV)",
               "json": "Balance Report (JSON)", "transactions": "Transaksjonsliste (CSV)",
               "ocr": "OCR-fil"}
FILE_ORDER = ("pdf", "csv", "json", "transactions", "ocr")
SOURCES = {"card": "Kort", "vipps": "Vipps", "bought_invoice": "Kjøpt faktura",
           "fakturaservice": "Fakturaservice", "pos": "Terminal", "other": "Annet"}


def _row(*cells: str, num: Sequence[int] = ()) -> str:
    return "<tr>" + "".join(
        f'<td class="num">{c}</td>' if i in num else f"<td>{c}</td>"
        for i, c in enumerate(cells)) + "</tr>"


def _head(*titles: str, num: Sequence[int] = ()) -> str:
    return "<thead><tr>" + "".join(
        f'<th scope="col" class="num">{e(t)}</th>' if i in num else f'<th scope="col">{e(t)}</th>'
        for i, t in enumerate(titles)) + "</tr></thead>"


def _value(search: Search, name: str) -> str:
    values = {"q": search.text,
              "belop": kroner(search.amount, " ").removesuffix(" kr")
              if search.amount is not None else "",
              "fra": search.date_from.isoformat() if search.date_from else "",
              "til": search.date_to.isoformat() if search.date_to else "",
              "status": search.status or ""}
    return values[name]


def _filters(action: str, search: Search, statuses: dict[str, str], hint: str) -> str:
    options = '<option value="">Alle</option>' + "".join(
        f'<option value="{e(k)}"{" selected" if search.status == k else ""}>{e(v)}</option>'
        for k, v in statuses.items())
    return f"""
<form method="get" action="{e(action)}" role="search" class="card">
<div class="filters">
<div><label for="q">Søk</label>
<input id="q" name="q" value="{e(_value(search, "q"))}" aria-describedby="q-hint"></div>
<div><label for="belop">Beløp (kr)</label>
<input id="belop" name="belop" inputmode="decimal" value="{e(_value(search, "belop"))}"></div>
<div><label for="fra">Fra dato</label>
<input id="fra" name="fra" type="date" value="{e(_value(search, "fra"))}"></div>
<div><label for="til">Til dato</label>
<input id="til" name="til" type="date" value="{e(_value(search, "til"))}"></div>
<div><label for="status">Status</label><select id="status" name="status">{options}</select></div>
<div><button type="submit">Søk</button></div>
</div>
<p id="q-hint" class="muted">{e(hint)}</p>
</form>"""


def _pager(action: str, search: Search, result: Page) -> str:
    def link(number: int, text: str, rel: str) -> str:
        params = {k: _value(search, k) for k in ("q", "belop", "fra", "til", "status")}
        query = urlencode({**{k: v for k, v in params.items() if v}, "side": number})
        return f'<a rel="{rel}" href="{e(action)}?{e(query)}">{e(text)}</a>'

    parts = []
    if result.page > 1:
        parts.append(link(result.page - 1, "← Forrige side", "prev"))
    parts.append(f"<span>Side {result.page}</span>")
    if result.has_next:
        parts.append(link(result.page + 1, "Neste side →", "next"))
    return f'<nav class="pager" aria-label="Sider">{"".join(parts)}</nav>'


def orders(nav: Nav, search: Search, result: Page, errors: list[str],
           notice: str | None = None,
           failed: tuple[list[FailedRefund], int] = ([], 0)) -> HTMLResponse:
    action = f"{PREFIX}/transaksjoner"
    rows: list[Order] = result.rows
    body = "".join(_row(
        e(day(o.received_at)),
        f'<a href="{PREFIX}/ordre/{e(o.id)}">{e(o.external_reference or o.idempotency_key)}</a>',
        e(o.kid), e(o.description), e(money(o.amount)), e(status_text(o)), num=(4,))
        for o in rows)
    head = _head("Mottatt", "Referanse", "KID", "Tekst", "Beløp", "Status", num=(4,))
    table = (f"<table>{head}<tbody>{body}</tbody></table>" if rows else
             "<p>Ingen regninger passer til søket.</p>")
    return page("Regninger", f"""
<h1>Regninger</h1>
{message(notice, ok=True)}
{_failed_refunds(*failed)}
{_filters(action, search, STATUS_TEXTS, "Ordre-id, referanse fra journalsystemet eller KID.")}
{"".join(message(text) for text in errors)}
<div class="card">{table}{_pager(action, search, result)}</div>""", nav=nav)


def pos(nav: Nav, search: Search, result: Page, errors: list[str]) -> HTMLResponse:
    action = f"{PREFIX}/terminal"
    rows: list[PosTransaction] = result.rows
    body = "".join(_row(
        e(day(t.occurred_at)), e(t.terminal_id), e(POS_KINDS.get(t.kind, t.kind)),
        e(POS_STATUSES.get(t.status, t.status)), e(t.card_name or ""), e(t.masked_pan or ""),
        e(t.reference or ""), e("" if t.receipt_number is None else t.receipt_number),
        e(money(t.amount)), num=(8,))
        for t in rows)
    head = _head("Tidspunkt", "Terminal", "Type", "Status", "Kort", "Kortnummer", "Referanse",
                 "Kvittering", "Beløp", num=(8,))
    table = (f"<table>{head}<tbody>{body}</tbody></table>" if rows else
             "<p>Ingen terminalbetalinger passer til søket.</p>")
    return page("Terminalbetalinger", f"""
<h1>Terminalbetalinger</h1>
{_filters(action, search, POS_STATUSES, "Referanse fra journalsystemet eller terminal-id.")}
{"".join(message(text) for text in errors)}
<div class="card">{table}{_pager(action, search, result)}</div>""", nav=nav)


def _credits(detail: OrderDetail, credits: OrderCredits | None, csrf: str, key: str,
             amount_text: str, reason_text: str) -> str:
    if credits is None:
        return ""
    rows = "".join(_row(
        e(day(c.created_at)), e(money(c.amount)), e(c.reason), e(c.actor),
        e(CREDIT_TARGETS.get(c.target, c.target)), _refund_state(c), num=(1,))
        for c in credits.credits)
    head = _head("Dato", "Beløp", "Begrunnelse", "Av", "Hvordan", "Refusjon", num=(1,))
    failed = any(c.refund_status == "failed" for c in credits.credits)
    listing = (f"<table>{head}<tbody>{rows}</tbody></table>"
               f"<p>Kreditert i alt: <strong>{e(money(credits.credited_total))}</strong></p>"
               + (message(REFUND_FAILED_HELP) if failed else "")
               if credits.credits else "<p>Ingen krediteringer.</p>")
    if credits.creditable <= 0:
        form = "<p class=\"muted\">Det er ikke noe mer å kreditere på denne regningen.</p>"
    else:
        prefill = amount_text or kroner(credits.creditable, " ").removesuffix(" kr")
        fields = f"""
<input type="hidden" name="nokkel" value="{e(key)}">
<label for="amount">Beløp å kreditere (kr)</label>
<input id="amount" name="amount" inputmode="decimal" required value="{e(prefill)}"
 aria-describedby="amount-hint">
<p id="amount-hint" class="muted">Høyst {e(money(credits.creditable))}. Skriv et mindre
beløp for delvis kreditering.</p>
<label for="reason">Begrunnelse</label>
<input id="reason" name="reason" required maxlength="500" value="{e(reason_text)}">"""
        form = post_form(f"{PREFIX}/ordre/{detail.order.id}/krediter", csrf, "Krediter",
                         fields=fields)
    return f'<div class="card" id="kreditering"><h2>Kreditering</h2>{listing}{form}</div>'


def _refund_state(credit: CreditView) -> str:
    """The refund cell: empty for credit notes, the date once the provider took it."""
    text = REFUND_STATES.get(credit.refund_status or "", "")
    if credit.refund_status == "refunded" and credit.refunded_at is not None:
        text += f" {day(credit.refunded_at)}"
    if credit.refund_status == "failed":
        return f'<strong class="error">{e(text)}</strong>'
    return e(text)


def _failed_refunds(failed: list[FailedRefund], total: int) -> str:
    """A banner on the bills page while any of the clinic's refunds has failed."""
    if total == 0:
        return ""
    items = "".join(
        f'<li><a href="{PREFIX}/ordre/{e(f.order_id)}#kreditering">{e(f.reference)}</a>: '
        f"{e(money(f.amount))} {e(CREDIT_TARGETS.get(f.target, f.target).lower())}, "
        f"kreditert {e(day(f.credited_at))}</li>" for f in failed)
    more = (f"<p>… og {total - len(failed)} til.</p>" if total > len(failed) else "")
    title = ("1 refusjon feilet" if total == 1 else f"{total} refusjoner feilet")
    return (f'<div class="card" id="refusjon-feilet" role="alert"><h2>{e(title)}</h2>'
            f"<p>{e(REFUND_FAILED_HELP)}</p><ul>{items}</ul>{more}</div>")


def _claim(detail: OrderDetail, csrf: str) -> str:
    claim = detail.claim
    if claim is None:
        return ""
    stage = STAGES.get(claim.stage, claim.stage) + (" (satt på pause: klage)"
                                                    if claim.paused else "")
    if claim.can_stop:
        fields = """
<label for="stop-reason">Begrunnelse</label>
<input id="stop-reason" name="reason" required maxlength="200">"""
        action = post_form(f"{PREFIX}/ordre/{detail.order.id}/stopp-krav", csrf,
                           "Stopp kravet", fields=fields, danger=True)
        action = ("<p>Stopper du kravet, tar klinikken det tilbake: MediPay sender ingen "
                  "flere purringer eller inkassobrev.</p>" + action)
    elif claim.route == "bought" and claim.state == "open":
        action = "<p class=\"muted\">MediPay eier dette kravet; kontakt MediPay.</p>"
    else:
        action = ""
    return f"""
<div class="card" id="krav"><h2>Faktura og inndriving</h2>
<dl><dt>Fakturanummer</dt><dd>{e(claim.invoice_number)}</dd>
<dt>Type</dt><dd>{e(ROUTES.get(claim.route, claim.route))}</dd>
<dt>Status</dt><dd>{e(CLAIM_STATES.get(claim.state, claim.state))}</dd>
<dt>Trinn</dt><dd>{e(stage)}</dd>
<dt>Forfall</dt><dd>{e(day(claim.due_date))}</dd>
<dt>Hovedstol igjen</dt><dd>{e(money(claim.principal_left))}</dd></dl>
{action}</div>"""


def order(nav: Nav, detail: OrderDetail, credits: OrderCredits | None, *, key: str,
          notice: str | None = None, error: str | None = None, amount_text: str = "",
          reason_text: str = "", status_code: int = 200) -> HTMLResponse:
    o = detail.order
    history = "".join(_row(e(day(h.at)), e(h.text)) for h in o.history)
    invoice = "" if o.invoice is None else (
        f"<dt>Faktura</dt><dd>{e(money(o.invoice.total))} "
        f"({e(ROUTES.get(o.invoice.route, o.invoice.route))})</dd>")
    return page(f"Regning {o.external_reference or o.id}", f"""
<p><a href="{PREFIX}/transaksjoner">← Alle regninger</a></p>
<h1>Regning {e(o.external_reference or o.idempotency_key)}</h1>
{message(notice, ok=True)}{message(error)}
<div class="card"><dl>
<dt>Status</dt><dd>{e(detail.status_text)}</dd>
<dt>Beløp</dt><dd>{e(money(o.amount))}</dd>
<dt>KID</dt><dd>{e(o.kid)}</dd>
<dt>Tekst</dt><dd>{e(o.description)}</dd>
<dt>Mottatt</dt><dd>{e(day(o.received_at))}</dd>
<dt>Konto</dt><dd>{e(o.account_id)}</dd>
<dt>Ordre-id</dt><dd>{e(o.id)}</dd>{invoice}
</dl></div>
{_credits(detail, credits, nav[3], key, amount_text, reason_text)}
{_claim(detail, nav[3])}
<div class="card"><h2>Historikk</h2><table>{_head("Tidspunkt", "Hendelse")}
<tbody>{history}</tbody></table></div>""", nav=nav, status_code=status_code)


def settlements(nav: Nav, result: Page) -> HTMLResponse:
    rows: list[dict[str, Any]] = result.rows
    body = "".join(_row(
        f'<a href="{PREFIX}/oppgjor/{e(r["settlement_id"])}">'
        f'{e(day(date.fromisoformat(r["settlement_date"])))}</a>',
        e(STREAM_TITLES.get(r["stream"], r["stream"])), e(r["count"]), e(money(r["gross"])),
        e(money(-r["fees"])), e(money(-r["credits"])), e(money(r["payout"])),
        num=(2, 3, 4, 5, 6))
        for r in rows)
    head = _head("Oppgjørsdato", "Strøm", "Antall", "Brutto", "Gebyrer", "Krediteringer",
                 "Utbetalt", num=(2, 3, 4, 5, 6))
    table = (f"<table>{head}<tbody>{body}</tbody></table>" if rows
             else "<p>Ingen oppgjør her.</p>" if result.page > 1
             else "<p>Ingen oppgjør ennå.</p>")
    pager = _pager(f"{PREFIX}/oppgjor", Search(page=result.page), result)
    return page("Oppgjør", f"<h1>Oppgjør</h1><div class=\"card\">{table}{pager}</div>",
                nav=nav)


def settlement(nav: Nav, detail: SettlementDetail) -> HTMLResponse:
    s = detail.summary
    sid = s["settlement_id"]
    downloads = "".join(
        f'<li><a href="{PREFIX}/oppgjor/{e(sid)}/filer/{kind}" download>'
        f"{e(FILE_TITLES[kind])}</a></li>" for kind in FILE_ORDER if kind in detail.files)
    lines = "".join(_row(
        e(line["position"]), e(day(date.fromisoformat(line["date"]))),
        e(SOURCES.get(line["source"], line["source"])),
        e("Kreditering" if line["kind"] == "credit" else "Betaling"), e(line["kid"]),
        e(money(line["amount"])), e(money(-line["fee"])), e(money(line["net"])),
        num=(0, 5, 6, 7)) for line in detail.lines)
    more = ("<p class=\"muted\">Bare de første linjene vises; transaksjonslisten har alle.</p>"
            if detail.more_lines else "")
    return page("Oppgjør", f"""
<p><a href="{PREFIX}/oppgjor">← Alle oppgjør</a></p>
<h1>Oppgjør {e(day(date.fromisoformat(s["settlement_date"])))}:
{e(STREAM_TITLES.get(s["stream"], s["stream"]))}</h1>
<div class="card"><dl>
<dt>Antall transaksjoner</dt><dd>{e(s["count"])}</dd>
<dt>Brutto innbetalt</dt><dd>{e(money(s["gross"]))}</dd>
<dt>Gebyrer</dt><dd>{e(money(-s["fees"]))}</dd>
<dt>Krediteringer</dt><dd>{e(money(-s["credits"]))}</dd>
<dt>Overført fra forrige</dt><dd>{e(money(s["carried_in"]))}</dd>
<dt>Utbetalt</dt><dd><strong>{e(money(s["payout"]))}</strong></dd>
<dt>Overføres til neste</dt><dd>{e(money(s["carried_forward"]))}</dd>
<dt>Til konto</dt><dd>{e(s["bank_account"] or "–")}</dd>
</dl></div>
<div class="card"><h2>Rapporter og filer</h2><ul>{downloads}</ul></div>
<div class="card"><h2>Transaksjoner</h2>
<table>{_head("Nr.", "Dato", "Kilde", "Type", "KID", "Beløp", "Gebyr", "Netto",
              num=(0, 5, 6, 7))}<tbody>{lines}</tbody></table>{more}</div>""", nav=nav)


def outstanding(nav: Nav, at: date, rows: list[OutstandingRow],
                error: str | None = None) -> HTMLResponse:
    body = "".join(_row(
        e(r.invoice_number), e(r.kid), e(day(r.due_date)), e(r.age_days),
        e(STAGES.get(r.stage, r.stage) + (" (klage)" if r.paused else "")),
        e(money(r.principal)), e(money(r.invoice_fee)), e(money(r.receivable)),
        num=(3, 5, 6, 7)) for r in rows)
    total = sum(r.receivable for r in rows)
    head = _head("Faktura", "KID", "Forfall", "Dager over forfall", "Trinn", "Hovedstol",
                 "Fakturagebyr", "Utestående", num=(3, 5, 6, 7))
    table = (f"<table>{head}<tbody>{body}</tbody></table>"
             f"<p>Utestående i alt: <strong>{e(money(total))}</strong></p>"
             if rows else "<p>Ingen utestående krav denne dagen.</p>")
    return page("Utestående krav", f"""
<h1>Utestående krav i Fakturaservice</h1>
<form method="get" action="{PREFIX}/utestaende" class="card">
<label for="dato">Per dato</label>
<input id="dato" name="dato" type="date" value="{e(at.isoformat())}">
<button type="submit">Vis</button>
</form>
{message(error)}
<div class="card">{table}
<p class="muted">Purregebyrer og renter tilhører MediPay og er ikke med her.</p></div>""",
                nav=nav)
