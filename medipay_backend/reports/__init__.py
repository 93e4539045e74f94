"""Reports for clinics and the operator: the settlement report (with filters), the earnings
report of the EPJ guide, and the POS transaction list. Plain functions on a session, so the
operator API, the CLI and the clinic portal (scoped to one clinic) share them."""
