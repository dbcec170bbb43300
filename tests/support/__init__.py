"""Helpers shared by the test tiers: fixtures from events/, an HTTP client, stack wiring."""
