"""Fixtures for tests that talk to the search server: a real osmem-server through opensearch-py."""

from __future__ import annotations
