import random

from hypothesis import given
from hypothesis import strategies as st

from gateway.config import BackendLinkConfig
from gateway.uplink.sender import backoff_seconds


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=2**32))
def test_backoff_stays_within_bounds(attempts, seed):
    config = BackendLinkConfig(retry_min=1.0, retry_max=300.0)
    delay = backoff_seconds(attempts, config, random.Random(seed))
    assert 1.0 <= delay <= 300.0


def test_backoff_grows_with_attempts_on_average():
    config = BackendLinkConfig(retry_min=1.0, retry_max=300.0)
    rng = random.Random(1)
    early = sum(backoff_seconds(1, config, rng) for _ in range(500)) / 500
    late = sum(backoff_seconds(8, config, rng) for _ in range(500)) / 500
    assert early < 3 < 100 < late
