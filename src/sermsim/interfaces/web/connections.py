"""A deadline for each request's head (its request line and headers), which uvicorn lacks.

uvicorn counts every open connection against its limit (``limit_concurrency``: past it, every
new request is answered 503), and waits for a request's head without a time limit: a client
that opens connections and sends nothing, or a header byte now and then, holds the server's
places and shuts everyone else out. This protocol closes a connection that has not sent a
whole request head within ``head_seconds`` of opening, or of its last answer. (The body has
its own deadline: :class:`sermsim.interfaces.web.guard.BodyLimit`.) It bounds what one such
connection holds; a determined flood of them is for a proxy in front of the server, as
SECURITY.md says.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol


class HeadDeadlineH11(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose next request head is overdue."""

    head_seconds: float = 0.0  # set by :func:`head_deadline_protocol`

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._expect_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._expect_head()

    def _expect_head(self) -> None:
        """From now, a new request must arrive whole within ``head_seconds``; a new request
        starts a new cycle, which is how a timer knows the head it waited for came."""
        self.loop.call_later(self.head_seconds, self._head_overdue, self.cycle)

    def _head_overdue(self, cycle_then: object) -> None:
        if self.cycle is cycle_then and not self.transport.is_closing():
            self.transport.close()


def head_deadline_protocol(head_seconds: float) -> type[HeadDeadlineH11]:
    """The protocol class for uvicorn's ``http=`` with this deadline."""
    return type("SermsimH11", (HeadDeadlineH11,), {"head_seconds": head_seconds})
