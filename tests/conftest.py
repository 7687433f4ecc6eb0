"""Shared fixtures. Randomness in tests is always seeded."""

from __future__ import annotations

import pytest

from sermsim.agents import Agent, load_agents


@pytest.fixture(scope="session")
def agents() -> dict[str, Agent]:
    return load_agents()
