"""scrypt hashes with their parameters, upgraded at login when the parameters are raised;
one-time passwords; the password rules; the lock-out schedule."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from medipay_backend.db import Database
from medipay_backend.models_portal import ClinicAdmin
from medipay_backend.portal.passwords import (
    DEFAULT_SCRYPT,
    OTP_ALPHABET,
    PasswordRuleError,
    ScryptParams,
    check_new_password,
    hash_password,
    needs_rehash,
    new_one_time_password,
    normalise_one_time_password,
    verify_password,
)
from medipay_backend.portal.settings import PortalSettings

from ..conftest import MakeEpj
from .conftest import FAST
from .helpers import PASSWORD, Portal

CHEAP = ScryptParams(n=2**4, r=1, p=1)


def test_a_hash_carries_salt_and_parameters_and_verifies_only_its_password() -> None:
    one, two = hash_password("riktig passord 1", CHEAP), hash_password("riktig passord 1", CHEAP)
    assert one.split("$")[:4] == ["scrypt", "16", "1", "1"]
    assert one != two  # a salt of its own
    assert verify_password("riktig passord 1", one) and verify_password("riktig passord 1", two)
    assert not verify_password("riktig passord 2", one)
    assert not verify_password("x" * 10_000, one)
    assert needs_rehash(one, DEFAULT_SCRYPT) and not needs_rehash(one, CHEAP)


def test_production_parameters_are_strong() -> None:
    # OWASP: n=2**17,r=8,p=1 or an equal-cost variant such as n=2**15,r=8,p=3.
    assert DEFAULT_SCRYPT.n * DEFAULT_SCRYPT.r * DEFAULT_SCRYPT.p >= 2**15 * 8 * 3
    assert PortalSettings().scrypt == DEFAULT_SCRYPT
    with pytest.raises(ValueError):
        ScryptParams(n=1000, r=8, p=1)  # not a power of two


def test_one_time_passwords_are_random_and_typed_back_loosely() -> None:
    seen = {new_one_time_password() for _ in range(50)}
    assert len(seen) == 50
    otp = seen.pop()
    groups = otp.split("-")
    assert [len(g) for g in groups] == [4, 4, 4, 4]
    assert set("".join(groups)) <= set(OTP_ALPHABET)
    assert normalise_one_time_password(otp.lower().replace("-", " ")) == otp
    assert normalise_one_time_password("oil0-1111-2222-3333") == "0110-1111-2222-3333"


@pytest.mark.parametrize(("new", "repeat", "text"), [
    ("kort", "kort", "minst 12"),
    ("langt nok passord", "langt nok passorD", "ikke like"),
    (" mellomrom foran", " mellomrom foran", "mellomrom"),
    ("aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaa", "for enkelt"),
    ("kari.nordmann@klinikk.no", "kari.nordmann@klinikk.no", "e-postadressen"),
    ("x" * 201 + "yzw", "x" * 201 + "yzw", "høyst 200"),
])
def test_password_rules(new: str, repeat: str, text: str) -> None:
    with pytest.raises(PasswordRuleError, match=text):
        check_new_password(new, repeat, email="kari.nordmann@klinikk.no")
    check_new_password(PASSWORD, PASSWORD, email="kari.nordmann@klinikk.no")


def test_lockout_doubles_and_is_capped() -> None:
    settings = PortalSettings()
    assert [settings.lock_period(n) for n in (1, 4)] == [None, None]
    assert settings.lock_period(5) == timedelta(minutes=15)
    assert settings.lock_period(6) == timedelta(minutes=30)
    assert settings.lock_period(7) == timedelta(hours=1)
    assert settings.lock_period(50) == timedelta(hours=24)


async def test_raised_parameters_take_effect_at_the_next_login(
    portal: Portal, make_epj: MakeEpj, app: FastAPI, database: Database,
) -> None:
    epj = await make_epj()
    admin = await portal.create_admin(epj.clinic_id, "kari@klinikk.no")
    await portal.logged_in(admin)

    async def stored() -> str:
        row = await database.run(lambda s: s.scalars(sa.select(ClinicAdmin)).one())
        assert row.password_hash is not None
        return row.password_hash

    assert (await stored()).startswith("scrypt$1024$8$1$")
    stronger = ScryptParams(n=2**11, r=8, p=2)
    app.state.portal_settings = PortalSettings(scrypt=stronger, page_size=FAST.page_size)
    wrong = await portal.browser().login(admin.email, "feil passord 1234")
    assert wrong.status_code == 401 and (await stored()).startswith("scrypt$1024$8$1$")
    assert (await portal.browser().login(admin.email, PASSWORD)).status_code == 303
    upgraded = await stored()
    assert upgraded.startswith("scrypt$2048$8$2$") and verify_password(PASSWORD, upgraded)
    assert (await portal.browser().login(admin.email, PASSWORD)).status_code == 303
