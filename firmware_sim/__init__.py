"""A ZVT card terminal in software: the terminal side of gateway.protocols, for tests and
testers. See docs/simulator.md."""
