"""The clinic gateway: drives card terminals for the EPJ, journals results, relays them upstream."""
