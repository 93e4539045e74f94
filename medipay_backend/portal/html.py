"""The portal's layout, style sheet and small HTML helpers (server-rendered, no JavaScript).

Every value goes through `e` (escaping). Every POST form carries the session's CSRF token
in a hidden field (`csrf_field`). Responses are never cached, send no Referer, may not be
framed, and may only post forms back to this site.
"""

from __future__ import annotations

from datetime import date, datetime

from fastapi.responses import HTMLResponse, Response

from medipay_backend.checkout.html import document, e, stylesheet
from medipay_backend.localtime import OSLO, kroner

PREFIX = "/klinikk"
CSS_PATH = PREFIX + "/static/portal.css"
CSRF_FIELD = "csrf"
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
}

CSS = """
:root { color-scheme: light; --accent: #0b5394; --ok: #1e6b34; --bad: #9c1c1c; }
* { box-sizing: border-box; }
body { margin: 0; font: 1rem/1.5 system-ui, sans-serif; color: #1b1b1b; background: #f4f5f7; }
header { background: var(--accent); color: #fff; padding: .5rem 1rem; }
header a, header button { color: #fff; }
header nav { display: flex; flex-wrap: wrap; gap: .25rem 1rem; align-items: center; }
header nav a { text-decoration: none; font-weight: 600; padding: .25rem 0; }
header nav a[aria-current] { text-decoration: underline; }
header .who { margin-left: auto; font-size: .9rem; }
header form { display: inline; }
header button { background: none; border: 1px solid #fff; border-radius: .3rem;
  padding: .15rem .6rem; font: inherit; cursor: pointer; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
.card { background: #fff; border-radius: .5rem; padding: 1rem 1.25rem; margin: 1rem 0;
        box-shadow: 0 1px 3px rgba(0,0,0,.12); }
.narrow { max-width: 28rem; margin: 2rem auto; }
h1 { font-size: 1.4rem; margin: .25rem 0 1rem; } h2 { font-size: 1.15rem; }
table { width: 100%; border-collapse: collapse; font-size: .95rem; }
th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid #ddd;
         vertical-align: top; }
td.num, th.num { text-align: right; white-space: nowrap; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dt { font-weight: 600; } dd { margin: 0; }
label { display: block; margin: .6rem 0 .2rem; font-weight: 600; }
input, select { min-height: 2.4rem; padding: .35rem .5rem; font: inherit;
  border: 1px solid #888; border-radius: .3rem; width: 100%; }
.filters { display: grid; grid-template-columns: repeat(auto-fit, minmax(10rem, 1fr));
           gap: 0 1rem; align-items: end; }
button, .button { display: inline-block; min-height: 2.4rem; margin: .6rem 0;
  padding: .45rem 1rem; font: inherit; font-weight: 600; color: #fff;
  background: var(--accent); border: 0; border-radius: .3rem; cursor: pointer;
  text-decoration: none; }
button.danger { background: var(--bad); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible {
  outline: 3px solid #f1c232; outline-offset: 2px; }
.error { color: var(--bad); font-weight: 600; } .ok { color: var(--ok); font-weight: 600; }
.muted { color: #555; }
.pager { display: flex; gap: 1rem; }
"""


def money(amount: int) -> str:
    """Kroner with the sign in front (`kroner` itself expects amounts of 0 or more)."""
    return ("−" if amount < 0 else "") + kroner(abs(amount))


def day(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(OSLO).strftime("%d.%m.%Y %H:%M")
    return value.strftime("%d.%m.%Y")


def csrf_field(token: str) -> str:
    return f'<input type="hidden" name="{CSRF_FIELD}" value="{e(token)}">'


def post_form(action: str, csrf: str, button: str, *, fields: str = "",
              danger: bool = False) -> str:
    css = ' class="danger"' if danger else ""
    return (f'<form method="post" action="{e(action)}">{csrf_field(csrf)}{fields}'
            f'<button type="submit"{css}>{e(button)}</button></form>')


def message(text: str | None, *, ok: bool = False) -> str:
    if not text:
        return ""
    role, css = ("status", "ok") if ok else ("alert", "error")
    return f'<p class="{css}" role="{role}">{e(text)}</p>'


NAV = (("transaksjoner", "Regninger"), ("terminal", "Terminalbetalinger"),
       ("oppgjor", "Oppgjør"), ("utestaende", "Utestående krav"))


def _header(current: str, clinic_name: str, email: str, csrf: str) -> str:
    links = "".join(
        f'<a href="{PREFIX}/{slug}"{" aria-current=page" if slug == current else ""}>'
        f"{e(title)}</a>" for slug, title in NAV)
    logout = post_form(f"{PREFIX}/logg-ut", csrf, "Logg ut")
    return (f'<header><nav aria-label="Hovedmeny"><strong>{e(clinic_name)}</strong>{links}'
            f'<span class="who">{e(email)} · <a href="{PREFIX}/passord">Bytt passord</a> '
            f"{logout}</span></nav></header>")


def page(title: str, body: str, *, status_code: int = 200, nav: tuple[str, str, str, str]
         | None = None) -> HTMLResponse:
    """A whole page. `nav` = (current section, clinic name, e-mail, CSRF token) adds the
    menu of a logged-in admin."""
    header = _header(*nav) if nav else ""
    inside = f"""{header}
<main>
{body}
</main>"""
    return HTMLResponse(document(f"{title} – MediPay klinikkportal", CSS_PATH, inside),
                        status_code=status_code, headers=SECURITY_HEADERS)


def css_response() -> Response:
    return stylesheet(CSS)
