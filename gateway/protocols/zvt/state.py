"""The dialog between ECR and terminal as data (h11 style): states, message kinds, transitions.

One table serves both roles, because both ends track the same shared dialog: the key is
(state, who sent it, what kind of message) and the value is the next state. A message with no
entry is illegal: LocalProtocolError if we try to send it, RemoteProtocolError if it arrives.

    IDLE --ECR command--> AWAIT_RESPONSE_* --80 00--> PT_MASTER (transaction commands)
                                           --80 00--> IDLE (Log-Off, Abort, prints to PT)
                                           --80 00--> OPEN (unknown raw command)
                                           --84 xx--> IDLE;  84 9C keeps waiting
    PT_MASTER --04 FF/04 0F/06 D1/06 D3/raw--> AWAIT_ECR_RESPONSE --80/84--> PT_MASTER
    PT_MASTER --06 0F / 06 1E--> AWAIT_FINAL_RESPONSE --80 00--> IDLE
    PT_MASTER, AWAIT_ECR_RESPONSE --06 B0 (ECR Abort)--> unchanged, abort_pending until the
    terminal answers it with 80/84.
"""

from __future__ import annotations

import enum

from .messages import (
    Abort,
    AbortFromTerminal,
    Ack,
    Authorization,
    Completion,
    Diagnosis,
    EndOfDay,
    IntermediateStatus,
    LogOff,
    Message,
    Nack,
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
)
from .messages.responses import PLEASE_WAIT


class Role(enum.Enum):
    ECR = "ECR"
    TERMINAL = "TERMINAL"

    @property
    def other(self) -> Role:
        return Role.TERMINAL if self is Role.ECR else Role.ECR


class State(enum.Enum):
    IDLE = "IDLE"  # the ECR is master and may send a command
    AWAIT_RESPONSE_TXN = "AWAIT_RESPONSE_TXN"  # ECR command that hands master rights over
    AWAIT_RESPONSE_SIMPLE = "AWAIT_RESPONSE_SIMPLE"  # ECR command answered by 80 00 only
    AWAIT_RESPONSE_RAW = "AWAIT_RESPONSE_RAW"  # unknown ECR command: we cannot tell
    OPEN = "OPEN"  # after an unknown command: either side may speak next
    PT_MASTER = "PT_MASTER"  # the terminal runs the transaction (T4 runs in the ECR)
    AWAIT_ECR_RESPONSE = "AWAIT_ECR_RESPONSE"  # the terminal sent a command, the ECR answers
    AWAIT_FINAL_RESPONSE = "AWAIT_FINAL_RESPONSE"  # after Completion / Abort from terminal
    CLOSED = "CLOSED"
    ERROR = "ERROR"


class Kind(enum.Enum):
    TXN_COMMAND = "TXN_COMMAND"
    SIMPLE_COMMAND = "SIMPLE_COMMAND"
    RAW_COMMAND = "RAW_COMMAND"
    ABORT = "ABORT"
    ACK = "ACK"
    NACK = "NACK"
    PLEASE_WAIT = "PLEASE_WAIT"
    PT_COMMAND = "PT_COMMAND"
    PT_FINAL = "PT_FINAL"


ECR, PT = Role.ECR, Role.TERMINAL
S, K = State, Kind

# Commands after whose 80 00 the terminal holds master rights until Completion / Abort.
TXN_COMMANDS: tuple[type[Message], ...] = (
    Registration, Authorization, Reversal, Refund, EndOfDay, Diagnosis, StatusEnquiry,
    RepeatReceipt,
)
PT_COMMANDS: tuple[type[Message], ...] = (IntermediateStatus, StatusInformation, SetDateTimeInEcr)
RESPONSES = (K.ACK, K.NACK, K.PLEASE_WAIT)

_ECR_COMMANDS = {
    K.TXN_COMMAND: S.AWAIT_RESPONSE_TXN,
    K.SIMPLE_COMMAND: S.AWAIT_RESPONSE_SIMPLE,
    K.ABORT: S.AWAIT_RESPONSE_SIMPLE,
    K.RAW_COMMAND: S.AWAIT_RESPONSE_RAW,
}

TRANSITIONS: dict[tuple[State, Role, Kind], State] = {
    **{(S.IDLE, ECR, kind): nxt for kind, nxt in _ECR_COMMANDS.items()},
    **{(S.OPEN, ECR, kind): nxt for kind, nxt in _ECR_COMMANDS.items()},
    (S.OPEN, PT, K.PT_COMMAND): S.AWAIT_ECR_RESPONSE,
    (S.OPEN, PT, K.PT_FINAL): S.AWAIT_FINAL_RESPONSE,
    (S.AWAIT_RESPONSE_TXN, PT, K.ACK): S.PT_MASTER,
    (S.AWAIT_RESPONSE_SIMPLE, PT, K.ACK): S.IDLE,
    (S.AWAIT_RESPONSE_RAW, PT, K.ACK): S.OPEN,
    **{(state, PT, K.NACK): S.IDLE for state in
       (S.AWAIT_RESPONSE_TXN, S.AWAIT_RESPONSE_SIMPLE, S.AWAIT_RESPONSE_RAW)},
    **{(state, PT, K.PLEASE_WAIT): state for state in
       (S.AWAIT_RESPONSE_TXN, S.AWAIT_RESPONSE_SIMPLE, S.AWAIT_RESPONSE_RAW)},
    (S.PT_MASTER, PT, K.PT_COMMAND): S.AWAIT_ECR_RESPONSE,
    (S.PT_MASTER, PT, K.PT_FINAL): S.AWAIT_FINAL_RESPONSE,
    (S.PT_MASTER, ECR, K.ABORT): S.PT_MASTER,
    (S.AWAIT_ECR_RESPONSE, ECR, K.ABORT): S.AWAIT_ECR_RESPONSE,
    **{(S.AWAIT_ECR_RESPONSE, ECR, kind): S.PT_MASTER for kind in RESPONSES},
    **{(S.AWAIT_FINAL_RESPONSE, ECR, kind): S.IDLE for kind in RESPONSES},
}

# States in which an ECR Abort leaves the dialog where it is and waits for its own answer.
ABORT_IN_TRANSACTION = frozenset({S.PT_MASTER, S.AWAIT_ECR_RESPONSE})


def classify(message: Message, sender: Role) -> Kind | None:
    """What kind of step `message` is when `sender` sends it; None if that role never may."""
    if isinstance(message, Ack):
        return K.ACK
    if isinstance(message, Nack):
        return K.PLEASE_WAIT if message.code == PLEASE_WAIT else K.NACK
    if isinstance(message, RawApdu):
        if message.cls == 0x80:  # 80 xx with xx != 00: a response with an odd APRC
            return K.ACK
        return K.RAW_COMMAND if sender is ECR else K.PT_COMMAND
    if isinstance(message, PrintLine | PrintTextBlock):
        return K.SIMPLE_COMMAND if sender is ECR else K.PT_COMMAND
    if sender is ECR:
        if isinstance(message, Abort):
            return K.ABORT
        if isinstance(message, TXN_COMMANDS):
            return K.TXN_COMMAND
        if isinstance(message, LogOff):
            return K.SIMPLE_COMMAND
        return None
    if isinstance(message, PT_COMMANDS):
        return K.PT_COMMAND
    if isinstance(message, Completion | AbortFromTerminal):
        return K.PT_FINAL
    return None
