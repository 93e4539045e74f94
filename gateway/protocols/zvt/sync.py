"""Lost-result recovery (spec chapter 4 and TLV tag 1F1F).

If the terminal's Status Information never reaches the ECR, the terminal thinks the payment
went through and the ECR thinks it did not. ZVT repairs this on the *next* transaction: the
terminal puts its receipt number into tag 1F1F of every Status Information; the ECR mirrors
the last one it acknowledged in tag 1F1F of its next transaction command. The terminal compares:

- equal to its last receipt number: both agree, nothing to do;
- one less: the ECR never saw the last transaction, so the terminal reverses it (an "implicit
  reversal", done like an auto-reversal) and reuses its receipt number;
- anything else: out of step (e.g. a new installation); the terminal ignores it and the ECR
  simply mirrors the number it gets from now on;
- empty 1F1F: the ECR has no number yet. It must send an empty tag, never 0, because 0 would
  reverse the terminal's transaction number 1.

Only the transaction commands listed in the spec may carry 1F1F.
"""

from __future__ import annotations

import dataclasses
import enum

from .messages import Authorization, EndOfDay, Message, Refund, Reversal
from .messages.status import TAG_RECEIPT_SYNC
from .tlv import Tlv

# The commands of this package that the spec allows to carry 1F1F.
SYNC_COMMANDS = (Authorization, Reversal, Refund, EndOfDay)


class ReceiptSync(enum.Enum):
    NOT_REQUESTED = "NOT_REQUESTED"  # the command has no tag 1F1F
    NO_ID = "NO_ID"  # empty 1F1F: the ECR has no receipt number yet
    IN_SYNC = "IN_SYNC"
    IMPLICIT_REVERSAL = "IMPLICIT_REVERSAL"  # reverse the last transaction, reuse its number
    IGNORED = "IGNORED"  # out of step; the terminal ignores the value


def receipt_id_bytes(receipt_number: int) -> bytes:
    """1F1F is binary of variable length: the receipt number big-endian, shortest form."""
    return receipt_number.to_bytes(max(1, (receipt_number.bit_length() + 7) // 8), "big")


def receipt_id_int(value: bytes) -> int | None:
    return int.from_bytes(value, "big") if value else None


def requested_sync(message: Message) -> bytes | None:
    """The 1F1F value a received command carries (b"" when empty), or None without the tag."""
    tlv = getattr(message, "tlv", None)
    if not isinstance(tlv, Tlv):
        return None
    value = tlv.get(TAG_RECEIPT_SYNC)
    return value if isinstance(value, bytes) else None


def classify_receipt_sync(ecr_value: bytes | None, last_receipt: int | None) -> ReceiptSync:
    """The terminal's decision for a received 1F1F against its last receipt number."""
    if ecr_value is None:
        return ReceiptSync.NOT_REQUESTED
    if not ecr_value:
        return ReceiptSync.NO_ID
    mirrored = int.from_bytes(ecr_value, "big")
    if last_receipt is None:
        return ReceiptSync.IGNORED
    if mirrored == last_receipt:
        return ReceiptSync.IN_SYNC
    if mirrored == last_receipt - 1:
        return ReceiptSync.IMPLICIT_REVERSAL
    return ReceiptSync.IGNORED


def with_receipt_sync(message: Message, value: bytes | None) -> Message:
    """`message` with tag 1F1F set to `value` (b"" when None) unless it already has one."""
    if not isinstance(message, SYNC_COMMANDS) or requested_sync(message) is not None:
        return message
    tlv = message.tlv if message.tlv is not None else Tlv()
    return dataclasses.replace(message, tlv=tlv.replace(TAG_RECEIPT_SYNC, value or b""))
