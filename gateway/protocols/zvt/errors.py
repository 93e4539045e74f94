"""The only exceptions this package lets callers see (h11 style).

`LocalProtocolError`: we were asked to send something invalid, or something the dialog does not
allow right now. `RemoteProtocolError`: the peer sent bytes we cannot accept. Codec internals
(construct, codecs, int parsing) are caught at the boundary and re-raised as one of these, so a
caller needs exactly one `except ZvtError`.
"""

from __future__ import annotations


class ZvtError(Exception):
    """Base of every error raised by `gateway.protocols.zvt`."""


class LocalProtocolError(ZvtError):
    """Our side tried to do something invalid: a bad field value or a message out of turn."""


class RemoteProtocolError(ZvtError):
    """The peer sent malformed bytes or a message that is illegal in the current state."""
