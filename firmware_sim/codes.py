"""The spec's numbers the simulated terminal uses, named once (PA00P015 chapters 2, 3, 10).

Result codes 0x01-0x63 are the card issuer's answer passed through by the host: the spec gives
them no text of its own, so the values below are the usual host response codes (decimal 51 =
insufficient funds), sent as one binary byte (51 -> 0x33), as the spec's table maps 01-63 hex
to 1-99 decimal.
"""

from __future__ import annotations

# -- Registration config byte (Table 1) -------------------------------------------------------
CONFIG_ECR_PRINTS_PAYMENT = 0x02  # payment receipts are printed by the ECR
CONFIG_ECR_PRINTS_ADMIN = 0x04  # administration receipts are printed by the ECR
CONFIG_INTERMEDIATE_STATUS = 0x08  # the ECR wants Intermediate Status (04 FF)
CONFIG_ECR_CONTROLS_PAYMENT = 0x10  # no amount entry on the terminal
CONFIG_ECR_CONTROLS_ADMIN = 0x20  # no administration functions started on the terminal
CONFIG_PRINT_LINES = 0x80  # ECR receipts as Print Line / Text-Block, not compiled by the ECR
# Log-Off resets the config byte to 86 (spec 2.24): ECR prints via print lines, no 04 FF.
CONFIG_AFTER_LOG_OFF = 0x86

# -- Result codes (chapter 10) ----------------------------------------------------------------
RESULT_OK = 0x00
RESULT_DECLINED = 0x05  # host: do not honour
RESULT_INSUFFICIENT_FUNDS = 0x33  # host: 51
RESULT_PIN_WRONG = 0x37  # host: 55, the spec names it ("PIN incorrect", 2.2.6)
RESULT_LIMIT_EXCEEDED = 0x3D  # host: 61, exceeds the card's amount limit
RESULT_CARD_BLOCKED = 0x3E  # host: 62, restricted (blocked) card
RESULT_PIN_TRIES_EXCEEDED = 0x4B  # host: 75, allowed number of PIN tries exceeded
RESULT_NOT_REGISTERED = 0x6B
RESULT_ABORTED = 0x6C  # abort via timeout or abort key
RESULT_WRONG_CURRENCY = 0x6F
RESULT_CARD_EXPIRED = 0x78
RESULT_FUNCTION_NOT_POSSIBLE = 0x83
RESULT_COMMUNICATION_FAULT = 0x9B
RESULT_ALREADY_REVERSED = 0xB4
RESULT_REVERSAL_NOT_POSSIBLE = 0xB5
RESULT_AMOUNT_WRONG = 0xB7
RESULT_PRINTER_NOT_READY = 0xCC
# 84 1E: the Registration answer for a wrong currency (spec 2.1), followed by 6F [<CC>].
NACK_REGISTRATION_ERROR = 0x1E

# -- Intermediate status (Table 17) -----------------------------------------------------------
STATUS_WATCH_PIN_PAD = 0x01
STATUS_WAITING_FOR_HOST = 0x04
STATUS_AUTO_REVERSAL = 0x05
STATUS_EXPIRED_CARD = 0x09
STATUS_INSERT_CARD = 0x0A
STATUS_REMOVE_CARD = 0x0B
STATUS_PLEASE_WAIT = 0x0E
STATUS_CREDIT_NOT_SUFFICIENT = 0x14
STATUS_PIN_WRONG = 0x15
STATUS_LIMIT_NOT_SUFFICIENT = 0x16
STATUS_PIN_TRIES_EXCEEDED = 0x18
STATUS_DECLINED = 0x1D

# -- Terminal status codes (chapter 11) -------------------------------------------------------
TERMINAL_READY = 0x00

# -- TLV tags (chapter 9) ---------------------------------------------------------------------
TAG_ZVT_COMMAND = 0x0A
TAG_LINE_WIDTH = 0x12
TAG_CHARSET = 0x14
TAG_DIAGNOSIS_TYPE = 0x1B
TAG_PERMITTED_COMMANDS = 0x26
TAG_RECEIPT_SYNC = 0x1F1F

# -- Receipt types (TLV tag 1F07) -------------------------------------------------------------
RECEIPT_MERCHANT = 0x01
RECEIPT_CUSTOMER = 0x02
RECEIPT_ADMIN = 0x03

# -- Status-Information payment types (BMP 19 in 04 0F) ---------------------------------------
PAYMENT_TYPE_ONLINE = 0x60
PAYMENT_TYPE_PIN = 0x70

# -- Service bytes ----------------------------------------------------------------------------
REPEAT_WITH_STATUS = 0x01  # Repeat Receipt: send the Status-Information again (Table 5)
REPEAT_NO_PRINT = 0x02  # Repeat Receipt: print nothing
ENQUIRY_NO_SW_VERSION = 0x02  # Status Enquiry: leave the software version out (Table 12)
