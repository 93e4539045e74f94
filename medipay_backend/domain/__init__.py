"""Pure business rules of the backend: plain data in, plain data out, no I/O, no clock."""
