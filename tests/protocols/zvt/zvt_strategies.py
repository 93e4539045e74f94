"""Hypothesis strategies for ZVT values, TLV containers and every message type."""

from __future__ import annotations

from typing import Any

from construct import Bytes, Int8ub, Int32ub
from hypothesis import strategies as st

from gateway.protocols import zvt
from gateway.protocols.zvt import bitmaps, fields
from gateway.protocols.zvt.charsets import _CP437_DECODE

CP437_TEXT = st.text(alphabet=st.sampled_from(_CP437_DECODE), max_size=30)
PRIMITIVE_TAGS = [0x07, 0x08, 0x09, 0x0B, 0x14, 0x1F1F, 0x1F16, 0x1F17, 0x1F70, 0x41, 0x43,
                  0x1F8101]
CONSTRUCTED_TAGS = [0x24, 0x25, 0x26, 0x27, 0x2F, 0xE1, 0x60, 0xFF01]


def tlvs(max_leaves: int = 8) -> st.SearchStrategy[zvt.Tlv]:
    primitive = st.builds(zvt.TlvObject, st.sampled_from(PRIMITIVE_TAGS),
                          st.binary(max_size=40))
    objects = st.recursive(
        primitive,
        lambda inner: st.builds(
            zvt.TlvObject, st.sampled_from(CONSTRUCTED_TAGS),
            st.lists(inner, max_size=4).map(lambda items: zvt.Tlv(tuple(items)))),
        max_leaves=max_leaves,
    )
    return st.lists(objects, max_size=5).map(lambda items: zvt.Tlv(tuple(items)))


def digits(count: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=count, max_size=count)


def _for_construct(con: Any, limit: int) -> st.SearchStrategy[Any]:
    if con is Int8ub:
        return st.integers(0, 0xFF)
    if con is Int32ub:
        return st.integers(0, 2**32 - 1)
    if isinstance(con, fields.BcdInt):
        return st.integers(0, 10**con.digits - 1)
    if isinstance(con, fields.BcdDigits):
        return digits(2 * con.nbytes)
    if isinstance(con, fields.MaskedDigits):
        return st.text(alphabet="0123456789ABCD*", max_size=min(2 * limit, 40))
    if isinstance(con, fields.PaddedDigits):
        return st.text(alphabet="0123456789", max_size=con.width)
    if isinstance(con, fields.PaddedText):
        alphabet = [c for c in _CP437_DECODE if c != con.pad]
        return st.text(alphabet=alphabet, max_size=con.nbytes)
    if isinstance(con, fields.NulText):
        return st.text(alphabet=st.sampled_from(_CP437_DECODE), max_size=min(limit - 1, 30))
    if isinstance(con, fields.Text):
        return st.text(alphabet=st.sampled_from(_CP437_DECODE), max_size=min(limit, 30))
    if isinstance(con, bitmaps.TlvContainer):
        return tlvs()
    if isinstance(con, fields.FxVar):
        return _for_construct(con.subcon, 10**con.ndigits - 1)
    if isinstance(con, Bytes) and isinstance(con.length, int):
        return st.binary(min_size=con.length, max_size=con.length)
    if con.__class__.__name__ == "GreedyBytes" or con is fields.GreedyBytes:
        return st.binary(max_size=min(limit, 60))
    raise AssertionError(f"no strategy for {con!r}")


def bmp_values(bmp: int) -> st.SearchStrategy[Any]:
    return _for_construct(bitmaps.BMPS[bmp].con, 99)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def _message(kind: type, fixed: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """`kind` with its bitmap fields random (or None) plus the given fixed fields."""
    kwargs = dict(fixed)
    for bmp, name in getattr(kind, "_FIELDS", ()):
        if name not in kwargs:
            kwargs[name] = optional(bmp_values(bmp))
    return st.builds(kind, **kwargs)


PASSWORD = digits(6)
BYTE = st.integers(0, 0xFF)

MESSAGES: dict[str, st.SearchStrategy[Any]] = {
    "Registration": st.one_of(
        st.builds(zvt.Registration, password=PASSWORD, config_byte=BYTE, currency=st.none()),
        _message(zvt.Registration, {"password": PASSWORD, "config_byte": BYTE,
                                    "currency": st.integers(0, 9999)})),
    "Authorization": _message(zvt.Authorization, {}),
    "LogOff": st.just(zvt.LogOff()),
    "Reversal": _message(zvt.Reversal, {"password": PASSWORD}),
    "Refund": _message(zvt.Refund, {"password": PASSWORD}),
    "EndOfDay": _message(zvt.EndOfDay, {"password": PASSWORD}),
    "Diagnosis": _message(zvt.Diagnosis, {}),
    "Abort": _message(zvt.Abort, {}),
    "StatusEnquiry": st.just(zvt.StatusEnquiry(password=None))
    | _message(zvt.StatusEnquiry, {"password": PASSWORD}),
    "RepeatReceipt": _message(zvt.RepeatReceipt, {"password": PASSWORD}),
    "StatusInformation": _message(zvt.StatusInformation, {"result_code": BYTE}),
    "IntermediateStatus": st.builds(zvt.IntermediateStatus, code=BYTE)
    | _message(zvt.IntermediateStatus, {"code": BYTE, "timeout": st.integers(0, 99)}),
    "Completion": _message(zvt.Completion, {}),
    "StatusEnquiryCompletion": st.builds(
        zvt.Completion, terminal_status=BYTE, tlv=optional(tlvs()),
        sw_version=optional(st.text(alphabet="ABCxyz 0123.-ÄÖÜäöüß", max_size=20))),
    "AbortFromTerminal": _message(zvt.AbortFromTerminal, {"result_code": BYTE}),
    "PrintLine": st.builds(zvt.PrintLine, attribute=st.integers(0, 0xFE), text=CP437_TEXT)
    | st.builds(zvt.PrintLine, attribute=st.just(0xFF), feed_count=optional(BYTE)),
    "PrintTextBlock": st.builds(zvt.PrintTextBlock, tlv=tlvs()),
    "SetDateTimeInEcr": _message(zvt.SetDateTimeInEcr, {}),
    "Ack": _message(zvt.Ack, {}),
    "Nack": _message(zvt.Nack, {"code": st.integers(1, 0xFF)}),
    "RawApdu": st.builds(
        zvt.RawApdu, cls=st.sampled_from([0x06, 0x08, 0x0F, 0x04, 0x05]), instr=BYTE,
        data=st.binary(max_size=300),
    ).filter(lambda m: (m.cls, m.instr) not in zvt.messages.MESSAGE_TYPES),
}

PT_MESSAGES = st.one_of(
    MESSAGES["IntermediateStatus"], MESSAGES["StatusInformation"], MESSAGES["PrintLine"],
    MESSAGES["PrintTextBlock"],
)
