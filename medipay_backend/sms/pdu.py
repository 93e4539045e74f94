"""SMPP 3.4 PDUs, the SMSC's side (sans-IO: bytes in, PDUs out, PDUs to bytes).

Only what an SMSC simulator needs: binds, submit_sm, deliver_sm (delivery receipts),
enquire_link, unbind and generic_nack. Every PDU is a 16-byte header (length, command id,
status, sequence number) and a body of NUL-terminated strings and single octets, optionally
followed by tag-length-value parameters.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

HEADER = struct.Struct(">IIII")
# SMPP 3.4 caps no PDU size; real SMSCs accept a few kilobytes. This guards the buffer.
MAX_PDU_LENGTH = 64 * 1024
RESPONSE_BIT = 0x80000000

GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
BIND_TRANSCEIVER = 0x00000009
ENQUIRE_LINK = 0x00000015
BINDS = (BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER)

# Command statuses (SMPP 3.4 section 5.1.3).
ESME_ROK = 0x00
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVBNDSTS = 0x04
ESME_RBINDFAIL = 0x0D
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RINVDSTADR = 0x0B

ESM_CLASS_RECEIPT = 0x04
ESM_CLASS_UDHI = 0x40
TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_MESSAGE_STATE = 0x0427
TAG_MESSAGE_PAYLOAD = 0x0424

# submit_sm and deliver_sm share this body layout: (name, kind) with kind "c" for a
# NUL-terminated string and "b" for one octet. short_message follows sm_length.
_MESSAGE_FIELDS = (
    ("service_type", "c"), ("source_addr_ton", "b"), ("source_addr_npi", "b"),
    ("source_addr", "c"), ("dest_addr_ton", "b"), ("dest_addr_npi", "b"),
    ("destination_addr", "c"), ("esm_class", "b"), ("protocol_id", "b"),
    ("priority_flag", "b"), ("schedule_delivery_time", "c"), ("validity_period", "c"),
    ("registered_delivery", "b"), ("replace_if_present_flag", "b"), ("data_coding", "b"),
    ("sm_default_msg_id", "b"),
)
_BIND_FIELDS = (
    ("system_id", "c"), ("password", "c"), ("system_type", "c"), ("interface_version", "b"),
    ("addr_ton", "b"), ("addr_npi", "b"), ("address_range", "c"),
)


class PduError(Exception):
    """The peer sent bytes that are not a PDU we can read; carries the status to answer."""

    def __init__(self, message: str, status: int = ESME_RINVCMDLEN) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Pdu:
    command_id: int
    sequence: int
    status: int = ESME_ROK
    fields: dict[str, Any] = field(default_factory=dict)
    short_message: bytes = b""
    tlvs: dict[int, bytes] = field(default_factory=dict)


class _Reader:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.pos = 0

    def cstring(self) -> str:
        end = self.body.find(b"\0", self.pos)
        if end < 0:
            raise PduError("unterminated string")
        value = self.body[self.pos:end].decode("latin-1")
        self.pos = end + 1
        return value

    def octet(self) -> int:
        if self.pos >= len(self.body):
            raise PduError("body too short")
        self.pos += 1
        return self.body[self.pos - 1]

    def take(self, length: int) -> bytes:
        if self.pos + length > len(self.body):
            raise PduError("body too short")
        self.pos += length
        return self.body[self.pos - length:self.pos]

    def tlvs(self) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        while self.pos < len(self.body):
            tag, length = struct.unpack(">HH", self.take(4))
            found[tag] = self.take(length)
        return found


def decode_body(pdu: Pdu, body: bytes) -> Pdu:
    reader = _Reader(body)
    if pdu.command_id in BINDS:
        pdu.fields = {name: reader.cstring() if kind == "c" else reader.octet()
                      for name, kind in _BIND_FIELDS}
    elif pdu.command_id in (SUBMIT_SM, DELIVER_SM):
        pdu.fields = {name: reader.cstring() if kind == "c" else reader.octet()
                      for name, kind in _MESSAGE_FIELDS}
        pdu.short_message = reader.take(reader.octet())
        pdu.tlvs = reader.tlvs()
    elif pdu.command_id & RESPONSE_BIT and body:
        pdu.fields = {"message_id": reader.cstring()}
    return pdu


def encode(pdu: Pdu) -> bytes:
    body = bytearray()
    if pdu.command_id in (SUBMIT_SM, DELIVER_SM):
        for name, kind in _MESSAGE_FIELDS:
            value = pdu.fields.get(name, "" if kind == "c" else 0)
            body += value.encode("latin-1") + b"\0" if kind == "c" else bytes([value])
        body += bytes([len(pdu.short_message)]) + pdu.short_message
        for tag, value in pdu.tlvs.items():
            body += struct.pack(">HH", tag, len(value)) + value
    elif pdu.command_id & RESPONSE_BIT and "message_id" in pdu.fields:
        body += pdu.fields["message_id"].encode("latin-1") + b"\0"
    return HEADER.pack(HEADER.size + len(body), pdu.command_id, pdu.status, pdu.sequence) + body


class PduBuffer:
    """Feed received bytes; take complete PDUs out."""

    def __init__(self) -> None:
        self._data = bytearray()

    def feed(self, data: bytes) -> None:
        self._data += data

    def next_pdu(self) -> Pdu | None:
        if len(self._data) < HEADER.size:
            return None
        length, command_id, status, sequence = HEADER.unpack_from(self._data)
        if not HEADER.size <= length <= MAX_PDU_LENGTH:
            raise PduError(f"invalid command_length {length}")
        if len(self._data) < length:
            return None
        body = bytes(self._data[HEADER.size:length])
        del self._data[:length]
        return decode_body(Pdu(command_id, sequence, status), body)


def response_to(request: Pdu, status: int = ESME_ROK, **fields: Any) -> Pdu:
    return Pdu(request.command_id | RESPONSE_BIT, request.sequence, status, dict(fields))
