"""Invoicing: issuing invoices, their documents and delivery, dunning, incoming payments,
claim handling (stop, complaint, credit) and reports. See docs/invoicing.md."""
