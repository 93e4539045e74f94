"""The MediPay payment backend: the provider's service behind the clinic gateways.

This first slice receives POS terminal transactions and end-of-day totals from enrolled
gateways over a signed HTTP API, stores them idempotently, and lets the operator list them.
Entry points: `medipay_backend.server.serve_backend` (the deployable) and
`medipay_backend.app.create_app` (the ASGI app, for tests and embedding).
"""
