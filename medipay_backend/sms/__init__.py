"""SMS to patients: SMPP 3.4 to an SMSC (smpplib), a recording sender for local use, and a
small SMSC simulator that speaks real SMPP PDUs for tests and demos."""
