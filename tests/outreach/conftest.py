"""Fixtures for the outreach tests (dashboard: a small store history with known figures)."""
