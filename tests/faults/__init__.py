"""Fault-injection suite: a package so its conftest and helpers never shadow tests/conftest.py."""
