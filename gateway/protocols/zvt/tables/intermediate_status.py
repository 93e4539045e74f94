"""Intermediate status codes (04 FF, Table 17) with the spec's English and German texts.

Codes 0x41-0x67 repeat 0x01-0x27 with "Please remove card!" added; the spec leaves 0x4A blank.
"""

from __future__ import annotations

_REMOVE = ("Please remove card!", "Bitte Karte entnehmen!")

_BASE: dict[int, tuple[str, str]] = {
    0x00: ("PT is waiting for amount-confirmation", "BZT wartet auf Betragbestätigung"),
    0x01: ("Please watch PIN-Pad", "Bitte Anzeigen auf dem PIN-Pad beachten"),
    0x02: ("Please watch PIN-Pad", "Bitte Anzeigen auf dem PIN-Pad beachten"),
    0x03: ("Not accepted", "Vorgang nicht möglich"),
    0x04: ("PT is waiting for response from FEP", "BZT wartet auf Antwort vom FEP"),
    0x05: ("PT is sending auto-reversal", "BZT sendet Autostorno"),
    0x06: ("PT is sending post-bookings", "BZT sendet Nachbuchungen"),
    0x07: ("Card not admitted", "Karte nicht zugelassen"),
    0x08: ("Card unknown / undefined", "Karte unbekannt / undefiniert"),
    0x09: ("Expired card", "Karte verfallen"),
    0x0A: ("Insert card", "Karte einstecken"),
    0x0B: _REMOVE,
    0x0C: ("Card not readable", "Karte nicht lesbar"),
    0x0D: ("Processing error", "Vorgang abgebrochen"),
    0x0E: ("Please wait...", "Vorgang wird bearbeitet bitte warten..."),
    0x0F: ("PT is commencing an automatic end-of-day batch",
           "BZT leitet einen automatischen Kassenabschluss ein"),
    0x10: ("Invalid card", "Karte ungültig"),
    0x11: ("Balance display", "Guthabenanzeige"),
    0x12: ("System malfunction", "Systemfehler"),
    0x13: ("Payment not possible", "Zahlung nicht möglich"),
    0x14: ("Credit not sufficient", "Guthaben nicht ausreichend"),
    0x15: ("Incorrect PIN", "Geheimzahl falsch"),
    0x16: ("Limit not sufficient", "Limit nicht ausreichend"),
    0x17: ("Please wait...", "Bitte warten..."),
    0x18: ("PIN try limit exceeded", "Geheimzahl zu oft falsch"),
    0x19: ("Card-data incorrect", "Kartendaten falsch"),
    0x1A: ("Service-mode", "Servicemodus"),
    0x1B: ("Approved. Please fill-up", "Autorisierung erfolgt. Bitte tanken"),
    0x1C: ("Approved. Please take goods", "Zahlung erfolgt. Bitte Ware entnehmen"),
    0x1D: ("Declined", "Autorisierung nicht möglich"),
    0x26: ("PT is waiting for input of the mobile-number",
           "BZT wartet auf Eingabe der Mobilfunknummer"),
    0x27: ("PT is waiting for repeat of mobile number",
           "BZT wartet auf Wiederholung der Mobilfunknummer"),
    0x28: ("Currency selection, please wait...", "Währungsauswahl, bitte warten..."),
    0x29: ("Language selection, please wait...", "Sprachauswahl, bitte warten..."),
    0x2A: ("For loading please insert card", "Zum Laden Karte einstecken"),
    0x2B: ("Emergency transaction, please wait", "Offline-Notbetrieb, bitte warten"),
    0x2C: ("Application selection, please wait", "Auswahl Debit/Kredit, bitte warten"),
}

_OTHERS: dict[int, tuple[str, str]] = {
    0x4B: _REMOVE,
    0x68: ("PT has detected customer card insertion", "BZT hat Einstecken der Kundenkarte erkannt"),
    0x69: ("Please select DCC", "Bitte DCC auswählen"),
    0xC7: ("PT is waiting for input of the mileage", "BZT wartet auf Eingabe des Kilometerstands"),
    0xC8: ("PT is waiting for cashier", "BZT wartet auf Kassierer"),
    0xC9: ("PT is commencing an automatic diagnosis", "BZT leitet eine automatische Diagnose ein"),
    0xCA: ("PT is commencing an automatic initialisation",
           "BZT leitet eine automatische Initialisierung ein"),
    0xCB: ("Merchant-journal full", "Händlerjournal voll"),
    0xCC: ("Debit advice not possible, PIN required", "Lastschrift nicht möglich, PIN notwendig"),
    0xD2: ("Connecting dial-up", "DFÜ-Verbindung wird hergestellt"),
    0xD3: ("Dial-up connection made", "DFÜ-Verbindung besteht"),
    0xE0: ("PT is waiting for application-selection", "BZT wartet auf Anwendungsauswahl"),
    0xE1: ("PT is waiting for language-selection", "BZT wartet auf Sprachauswahl"),
    0xE2: ("PT requests to use the cleaning card",
           "BZT fordert auf, die Reinungskarte zu benutzen"),
    0xF1: ("Offline", "Offline"),
    0xF2: ("Online", "Online"),
    0xF3: ("Offline transaction", "Offline-Transaktion"),
    0xFF: ("No appropriate ZVT status code matches the status; see TLV tags 24 and 07",
           "Kein passender ZVT-Statuscode; siehe TLV-Tags 24 und 07"),
}


def _with_removal(code: int) -> tuple[str, str]:
    english, german = _BASE[code - 0x40]
    return f"{english} {_REMOVE[0]}", f"{german} {_REMOVE[1]}"


INTERMEDIATE_STATUS: dict[int, tuple[str, str]] = {
    **_BASE,
    **{code: _with_removal(code) for code in range(0x41, 0x68)
       if code - 0x40 in _BASE and code not in (0x4A, 0x4B)},
    **_OTHERS,
}

# Texts the spec marks for word-for-word display on unattended terminals' customer displays.
MUST_DISPLAY_VERBATIM = frozenset({
    0x01, 0x02, 0x03, 0x07, 0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x0E, 0x10, 0x12, 0x13, 0x14, 0x15,
    0x17, 0x18, 0x19, 0x1B, 0x1C, 0x1D, 0x43, 0x47, 0x48, 0x49, 0x4C, 0x4D, 0x4E, 0x50, 0x52,
    0x53, 0x55, 0x57, 0x58, 0x59, 0x5B, 0x5C, 0x5D,
})


def intermediate_text(code: int, language: str = "en") -> str:
    """Display text of an intermediate status code ("en" or "de"); never raises."""
    entry = INTERMEDIATE_STATUS.get(code)
    if entry is None:
        return f"unknown intermediate status 0x{code:02X}"
    return entry[1] if language == "de" else entry[0]
