"""Customers at the terminal: what they do, how long it takes, and the keypad they press.

A `Customer` is a script for one transaction: present a card after some seconds (or never),
type PINs (wrong ones first, if the scenario says so), press STOP, or walk away. Scenarios and
the control API queue customers at the `CustomerDesk`; the payment flow takes the next one when
it needs a card. Keys pressed through the control API reach the flow through the same desk, so
a person can play the customer by hand.

Times are trio seconds (`trio.sleep`), so tests on `MockClock` run them instantly and exactly.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

import trio

from firmware_sim.cards import Card

KEY_OK = "OK"
KEY_STOP = "STOP"  # the red key: cancel
KEY_CLEAR = "CLEAR"  # the yellow key: correct the last digit
KEYS = frozenset({*"0123456789", KEY_OK, KEY_STOP, KEY_CLEAR})


class Moment(enum.Enum):
    """When a customer gives up or cancels."""

    CARD = "card"  # instead of presenting the card
    PIN = "pin"  # instead of typing the PIN


class PinResult(enum.Enum):
    ENTERED = "entered"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class Customer:
    card: Card | None = None  # None: the terminal's default card (the deck's first)
    present_after: float = 0.0  # seconds before the card reaches the reader
    insert: bool = False  # insert the chip even where tapping would do
    # PINs typed in turn; None = the card's own PIN on the first try.
    pins: tuple[str, ...] | None = None
    pin_seconds: float = 0.0  # seconds per PIN entry
    keypad: bool = False  # the PIN comes from key presses (control API), not from `pins`
    cancel: Moment | None = None  # presses STOP at this moment
    walk_away: Moment | None = None  # leaves at this moment: the terminal times out

    def pin_attempt(self, number: int, card: Card) -> str | None:
        """The PIN typed on attempt `number` (0-based); None once the list is used up."""
        if self.pins is None:
            return card.pin if number == 0 else None
        return self.pins[number] if number < len(self.pins) else None


@dataclass(frozen=True)
class CardEvent:
    """What happened when the terminal asked for a card."""

    customer: Customer | None  # None: nobody came, or STOP was pressed
    cancelled: bool = False


@dataclass
class CustomerDesk:
    """The queue of customers and the keypad. `auto` brings a default customer when nobody
    is queued (the terminal "approves payments with its default card"); without it the
    terminal waits for someone to present a card through the control API."""

    auto: bool = True
    queue: deque[Customer] = field(default_factory=deque)
    keys: deque[str] = field(default_factory=deque)
    _changed: trio.Event = field(default_factory=trio.Event)

    def add(self, customer: Customer) -> None:
        self.queue.append(customer)
        self._notify()

    def press(self, key: str) -> None:
        if key not in KEYS:
            raise ValueError(f"no key {key!r} on the terminal; keys are 0-9, OK, STOP, CLEAR")
        self.keys.append(key)
        self._notify()

    def clear(self) -> None:
        self.queue.clear()
        self.keys.clear()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _wait_change(self) -> None:
        await self._changed.wait()

    def _take_key(self) -> str | None:
        return self.keys.popleft() if self.keys else None

    async def next_card(self, timeout: float) -> CardEvent:
        """Wait up to `timeout` s for a customer's card (or STOP on the keypad)."""
        with trio.move_on_after(timeout):
            while True:
                while (key := self._take_key()) is not None:
                    if key == KEY_STOP:
                        return CardEvent(None, cancelled=True)
                if self.queue:
                    customer = self.queue.popleft()
                    return await self._play_card(customer)
                if self.auto:
                    return CardEvent(Customer())
                await self._wait_change()
        return CardEvent(None)

    async def _play_card(self, customer: Customer) -> CardEvent:
        if customer.walk_away is Moment.CARD:
            await trio.sleep_forever()  # the caller's timeout ends it
        await trio.sleep(customer.present_after)
        if customer.cancel is Moment.CARD:
            return CardEvent(None, cancelled=True)
        return CardEvent(customer)

    async def read_pin(self, customer: Customer, card: Card, attempt: int,
                       timeout: float) -> tuple[PinResult, str]:
        """One PIN entry: scripted from the customer, or typed on the keypad."""
        with trio.move_on_after(timeout):
            if customer.keypad:
                return await self._keypad_pin()
            if customer.walk_away is Moment.PIN:
                await trio.sleep_forever()
            await trio.sleep(customer.pin_seconds)
            if customer.cancel is Moment.PIN:
                return PinResult.CANCELLED, ""
            typed = customer.pin_attempt(attempt, card)
            if typed is None:
                await trio.sleep_forever()  # out of PINs to try: the customer just stands there
            return PinResult.ENTERED, typed or ""
        return PinResult.TIMED_OUT, ""

    async def _keypad_pin(self) -> tuple[PinResult, str]:
        digits: list[str] = []
        while True:
            key = self._take_key()
            if key is None:
                await self._wait_change()
            elif key == KEY_STOP:
                return PinResult.CANCELLED, ""
            elif key == KEY_CLEAR:
                if digits:
                    digits.pop()
            elif key == KEY_OK:
                if len(digits) >= 4:
                    return PinResult.ENTERED, "".join(digits)
            else:
                digits.append(key)

    async def wait_stop(self) -> None:
        """Return when STOP is pressed (a cancel during steps that need no customer input)."""
        while True:
            if KEY_STOP in self.keys:
                self.keys.remove(KEY_STOP)
                return
            await self._wait_change()
