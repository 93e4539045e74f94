"""The portal's login, password and error pages (Norwegian)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from fastapi.responses import HTMLResponse

from medipay_backend.checkout.html import e
from medipay_backend.localtime import oslo_text
from medipay_backend.portal.html import PREFIX, csrf_field, message, page, post_form
from medipay_backend.portal.passwords import MIN_PASSWORD_LENGTH

LOGIN_TEXTS = {
    "invalid": "Feil e-postadresse eller passord.",
    "otp_expired": "Engangspassordet er brukt eller utløpt. Be MediPay om et nytt.",
    "form": "Skjemaet var utløpt. Prøv igjen.",
}


def locked_text(until: datetime | None) -> str:
    when = f" etter {oslo_text(until)}" if until else " senere"
    return f"For mange mislykkede forsøk. Kontoen er sperret; prøv igjen{when}."


def throttled_text(wait: timedelta) -> str:
    minutes = max(1, math.ceil(wait.total_seconds() / 60))
    when = "ett minutt" if minutes == 1 else f"{minutes} minutter"
    return (f"For mange mislykkede innlogginger fra din nettverksadresse. Vent {when} og "
            "prøv igjen. Har du glemt passordet, be MediPay om et nytt engangspassord.")


def login(csrf: str, *, next_path: str = "", email: str = "", error: str | None = None,
          notice: str | None = None, status_code: int = 200) -> HTMLResponse:
    hidden = f'<input type="hidden" name="neste" value="{e(next_path)}">' if next_path else ""
    return page("Logg inn", f"""
<div class="card narrow">
<h1>Klinikkportal – logg inn</h1>
{message(notice, ok=True)}{message(error)}
<form method="post" action="{PREFIX}/logg-inn">
{csrf_field(csrf)}{hidden}
<label for="email">E-postadresse</label>
<input id="email" name="email" type="email" autocomplete="username" required
 value="{e(email)}">
<label for="password">Passord</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Logg inn</button>
</form>
<p class="muted">Første gang: bruk engangspassordet du fikk fra MediPay. Har du glemt
passordet, be MediPay om et nytt engangspassord.</p>
</div>""", status_code=status_code)


def change_password(csrf: str, *, forced: bool, error: str | None = None,
                    status_code: int = 200,
                    nav: tuple[str, str, str, str] | None = None) -> HTMLResponse:
    intro = ("<p>Du logget inn med et engangspassord. Velg ditt eget passord før du "
             "fortsetter.</p>" if forced else "")
    current = "" if forced else """
<label for="current">Nåværende passord</label>
<input id="current" name="current" type="password" autocomplete="current-password" required>"""
    action = f"{PREFIX}/nytt-passord" if forced else f"{PREFIX}/passord"
    # The forced page has no menu, so it offers a way out of its own.
    leave = post_form(f"{PREFIX}/logg-ut", csrf, "Logg ut") if forced else ""
    return page("Velg passord", f"""
<div class="card narrow">
<h1>{"Velg nytt passord" if forced else "Bytt passord"}</h1>
{intro}{message(error)}
<form method="post" action="{action}">
{csrf_field(csrf)}{current}
<label for="new">Nytt passord</label>
<input id="new" name="new" type="password" autocomplete="new-password" required
 minlength="{MIN_PASSWORD_LENGTH}" aria-describedby="rule">
<p id="rule" class="muted">Minst {MIN_PASSWORD_LENGTH} tegn. En setning du husker er et
godt passord.</p>
<label for="repeat">Gjenta nytt passord</label>
<input id="repeat" name="repeat" type="password" autocomplete="new-password" required>
<button type="submit">Lagre passord</button>
</form>
{leave}
</div>""", status_code=status_code, nav=None if forced else nav)


def forbidden() -> HTMLResponse:
    return page("Avvist", f"""
<div class="card narrow">
<h1>Skjemaet ble avvist</h1>
<p>Skjemaet var utløpt eller kom ikke fra klinikkportalen, så ingenting ble endret.
Gå tilbake, last siden på nytt og prøv igjen.</p>
<a class="button" href="{PREFIX}/transaksjoner">Til oversikten</a>
</div>""", status_code=403)


def not_found(nav: tuple[str, str, str, str] | None = None) -> HTMLResponse:
    return page("Finnes ikke", """
<div class="card">
<h1>Finner ikke siden</h1>
<p>Det du ser etter finnes ikke, eller hører ikke til klinikken din.</p>
</div>""", status_code=404, nav=nav)
