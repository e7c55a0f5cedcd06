"""Hostile and broken submissions of ps03-rnn for tests/test_hostile.py (see cases.py)."""
