"""pytest configuration shared by every test module (fixtures live in tests/support.py)."""
