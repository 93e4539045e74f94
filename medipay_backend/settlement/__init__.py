"""Settlements: business records posted to the ledger, settled per clinic and stream,
with Balance Reports (JSON, CSV, PDF), transaction lists and OCR giro files."""
