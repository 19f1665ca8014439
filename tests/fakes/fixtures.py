"""pytest fixtures for the fake model server; a conftest imports them.

``fake_server`` is a factory: call it to start a server of any flavor. Every server it started
is stopped when the test ends. ``fake_openai`` is one OpenAI-flavored server, echoing, with no
latency.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import pytest

from .harness import FakeServer


class StartFakeServer(Protocol):
    """The ``fake_server`` fixture's value."""

    def __call__(
        self, flavor: str = "openai", latency: float = 0.0, reply: str = "echo"
    ) -> FakeServer: ...


@pytest.fixture
def fake_server() -> Iterator[StartFakeServer]:
    """Start fake model servers on demand; stop them all at teardown."""
    started: list[FakeServer] = []

    def start(flavor: str = "openai", latency: float = 0.0, reply: str = "echo") -> FakeServer:
        server = FakeServer(flavor, latency, reply)
        started.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture
def fake_openai(fake_server: StartFakeServer) -> FakeServer:
    """One running OpenAI-flavored fake server (echo replies, no latency)."""
    return fake_server("openai")
