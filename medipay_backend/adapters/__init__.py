"""Adapters to the outside: card acquirer, Vipps, credit bureau; and their simulators."""
