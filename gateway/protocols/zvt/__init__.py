"""ZVT (PA00P015 / PA00P016): the card-terminal protocol, sans-IO, for both the ECR and the
terminal role. See docs/protocols/zvt.md for what is supported and how to drive it."""

from .charsets import (
    CHARSET_ASCII,
    CHARSET_CP437,
    CHARSET_ISO_8859_1,
    CHARSET_ISO_8859_15,
    CHARSET_UTF8,
    decode_text,
    encode_text,
)
from .connection import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Event,
    Framing,
    TimedOut,
    TransmissionError,
    ZvtConnection,
)
from .crc import crc16_kermit, frame_crc
from .errors import LocalProtocolError, RemoteProtocolError, ZvtError
from .messages import (
    CURRENCY_EUR,
    CURRENCY_NOK,
    DEFAULT_CONFIG_BYTE,
    NOT_SUPPORTED,
    PARTIAL_ISSUE,
    PLEASE_WAIT,
    PRINTER_NOT_READY,
    Abort,
    AbortFromTerminal,
    Ack,
    Authorization,
    CodecContext,
    Completion,
    Diagnosis,
    EndOfDay,
    IntermediateStatus,
    LogOff,
    Message,
    Nack,
    PrintItem,
    PrintLine,
    PrintTextBlock,
    RawApdu,
    Refund,
    Registration,
    RepeatReceipt,
    Reversal,
    SetDateTimeInEcr,
    StatusEnquiry,
    StatusInformation,
    TurnoverTotals,
    decode_frame,
    decode_message,
    encode_message,
    reply_to_unsupported,
)
from .serial_link import build_frame
from .state import Role, State
from .sync import (
    ReceiptSync,
    classify_receipt_sync,
    receipt_id_bytes,
    receipt_id_int,
    requested_sync,
)
from .tables.intermediate_status import intermediate_text
from .tables.result_codes import result_text, terminal_status_text
from .timers import MAX_REPEATS, T1, T2, T3, T4, Timer, TimerRequest
from .tlv import Tlv, TlvObject

__all__ = [
    "CHARSET_ASCII", "CHARSET_CP437", "CHARSET_ISO_8859_1", "CHARSET_ISO_8859_15",
    "CHARSET_UTF8", "CURRENCY_EUR", "CURRENCY_NOK", "DEFAULT_CONFIG_BYTE", "MAX_REPEATS",
    "NEED_DATA", "NOT_SUPPORTED", "PAUSED", "PARTIAL_ISSUE", "PLEASE_WAIT", "PRINTER_NOT_READY",
    "T1", "T2", "T3", "T4",
    "Abort", "AbortFromTerminal", "Ack", "Authorization", "CodecContext", "Completion",
    "ConnectionClosed", "Diagnosis", "EndOfDay", "Event", "Framing", "IntermediateStatus",
    "LocalProtocolError", "LogOff", "Message", "Nack", "PrintItem", "PrintLine",
    "PrintTextBlock", "RawApdu", "ReceiptSync", "Refund", "Registration", "RemoteProtocolError",
    "RepeatReceipt", "Reversal", "Role", "SetDateTimeInEcr", "State", "StatusEnquiry",
    "StatusInformation", "TimedOut", "Timer", "TimerRequest", "Tlv", "TlvObject",
    "TransmissionError", "TurnoverTotals", "ZvtConnection", "ZvtError",
    "build_frame", "classify_receipt_sync", "crc16_kermit", "decode_frame", "decode_message",
    "decode_text", "encode_message", "encode_text", "frame_crc", "intermediate_text",
    "receipt_id_bytes", "receipt_id_int", "reply_to_unsupported", "requested_sync",
    "result_text", "terminal_status_text",
]
