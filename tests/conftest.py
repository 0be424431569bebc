"""pytest configuration: the tests import their helpers from tests/helpers.py."""
from __future__ import annotations
