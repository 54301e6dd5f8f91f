"""Helpers shared by the test folders: waiting on a condition, calling a service, reading its
health and metrics, a fake detector, the service programs' modules.

A package of its own beside `servicekit` (which starts the real services): test folders with
their own conftest.py cannot share helpers through `from conftest import ...`.
"""
