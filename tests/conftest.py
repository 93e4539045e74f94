"""Fixtures shared by all test packages."""

from __future__ import annotations

import os

import pytest

PG_URL = os.environ.get("MEDIPAY_TEST_PG_URL")


def database_params() -> list[object]:
    """SQLite always; PostgreSQL too when MEDIPAY_TEST_PG_URL is set (CI sets it)."""
    params: list[object] = [pytest.param("sqlite", id="sqlite")]
    if PG_URL:
        params.append(pytest.param("postgresql", id="postgresql"))
    return params
