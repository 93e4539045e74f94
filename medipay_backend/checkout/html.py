"""Small HTML helpers for the server-rendered pages: one layout, escaped values, one CSS.

Pages are plain HTML forms that work without JavaScript, mobile first, with real labels and
headings for screen readers. Responses are never cached and send no Referer, because the
URL holds the link's secret token.
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

CSS_PATH = "/static/checkout.css"
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; form-action 'self' http: https:; "
                               "frame-ancestors 'none'",
}

CSS = """
:root { color-scheme: light; --accent: #0b5394; --ok: #1e6b34; --bad: #9c1c1c; }
* { box-sizing: border-box; }
body { margin: 0; font: 1.05rem/1.5 system-ui, sans-serif; color: #1b1b1b;
       background: #f4f5f7; }
main { max-width: 32rem; margin: 0 auto; padding: 1.25rem; }
.card { background: #fff; border-radius: .75rem; padding: 1.25rem; margin: 1rem 0;
        box-shadow: 0 1px 3px rgba(0,0,0,.12); }
h1 { font-size: 1.4rem; margin: .25rem 0 1rem; }
.amount { font-size: 2rem; font-weight: 700; margin: .25rem 0; }
.muted { color: #555; }
.ok { color: var(--ok); } .bad { color: var(--bad); }
button, .button { display: block; width: 100%; min-height: 3rem; margin: .75rem 0;
  padding: .75rem 1rem; font: inherit; font-weight: 600; text-align: center;
  text-decoration: none; color: #fff; background: var(--accent); border: 0;
  border-radius: .5rem; cursor: pointer; }
button.secondary, .button.secondary { color: var(--accent); background: #fff;
  border: 2px solid var(--accent); }
button:focus-visible, .button:focus-visible, input:focus-visible {
  outline: 3px solid #f1c232; outline-offset: 2px; }
label { display: block; margin: .75rem 0 .25rem; font-weight: 600; }
input { width: 100%; min-height: 2.75rem; padding: .5rem; font: inherit;
        border: 1px solid #888; border-radius: .4rem; }
.error { color: var(--bad); font-weight: 600; }
footer { font-size: .85rem; color: #555; text-align: center; margin-top: 2rem; }
table.lines { width: 100%; border-collapse: collapse; margin: .5rem 0 1rem; }
table.lines td { padding: .3rem 0; border-bottom: 1px solid #e3e3e3; }
table.lines td:last-child { text-align: right; white-space: nowrap; }
"""


def e(value: object) -> str:
    return escape(str(value), quote=True)


def document(title: str, css_path: str, body: str) -> str:
    """The HTML every server-rendered page shares (checkout and clinic portal): `body` is
    what goes inside <body>."""
    return f"""<!doctype html>
<html lang="nb">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{e(title)}</title>
<link rel="stylesheet" href="{css_path}">
</head>
<body>
{body}
</body>
</html>
"""


def stylesheet(css: str) -> Response:
    # The same for every visitor and free of secrets, so unlike the pages it may be cached.
    return Response(css, media_type="text/css",
                    headers={"Cache-Control": "public, max-age=3600"})


def page(title: str, body: str, *, status_code: int = 200) -> HTMLResponse:
    main = f"""<main>
{body}
<footer>MediPay – betaling for helsetjenester</footer>
</main>"""
    return HTMLResponse(document(f"{title} – MediPay", CSS_PATH, main),
                        status_code=status_code, headers=SECURITY_HEADERS)


def css_response() -> Response:
    return stylesheet(CSS)


def form(action: str, button: str, *, fields: str = "", secondary: bool = False) -> str:
    css = ' class="secondary"' if secondary else ""
    return (f'<form method="post" action="{e(action)}">{fields}'
            f'<button type="submit"{css}>{e(button)}</button></form>')


# A form of a few short fields; anything longer is not one of ours.
MAX_FORM_BYTES = 4096


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of an `application/x-www-form-urlencoded` POST (first value of each).

    Parsed here rather than with python-multipart: the pages only post small URL-encoded
    forms, and that needs nothing beyond the standard library.
    """
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in parsed.items()}
