"""Sans-IO protocol codecs and state machines (bytes in, events out, bytes to send)."""
