"""The request-body limit (an ASGI middleware) and the one shape of every error response.

A body larger than the limit is refused with 413 without being read: at once when its
``Content-Length`` says so, and otherwise (a streamed, chunked body) as soon as the bytes
received pass the limit. A body that has not all arrived within its time limit (a client
trickling it to hold a connection) is refused with 408. The body that passes is at most the
limit, held once and handed on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sermsim import DISCLAIMER

# The longest field name and message an error answer carries: a request may be 64 kB, and an
# error must not echo it back (a long unknown key, a long list of agents); a field or message
# longer than this is cut, with an ellipsis.
MAX_FIELD_CHARS = 120
MAX_MESSAGE_CHARS = 400

log = logging.getLogger("sermsim.web")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(text: str) -> str:
    r"""``text`` with every unprintable character (a line break, a control character) written
    as its escape, so that a key or value a request sent cannot break an error's one line.

    >>> one_line("age\nx\t1")
    'age\\nx\\t1'
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def error_body(field: str | None, message: str) -> dict[str, Any]:
    """Every error's JSON: ``{"error": {"field", "message"}, "disclaimer"}``; the field and
    the message are one line each (:func:`one_line`), cut to :data:`MAX_FIELD_CHARS` and
    :data:`MAX_MESSAGE_CHARS`.

    >>> error_body("patient.age", "patient.age: 300 is invalid; ...")["error"]["field"]
    'patient.age'
    >>> len(error_body("x" * 5000, "y" * 5000)["error"]["message"])
    400
    """
    shown = None if field is None else _cut(one_line(field), MAX_FIELD_CHARS)
    return {
        "error": {"field": shown, "message": _cut(one_line(message), MAX_MESSAGE_CHARS)},
        "disclaimer": DISCLAIMER,
    }


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, reading no more than the limit, and
    bodies not received within ``seconds`` of the request's headers with 408."""

    def __init__(self, app: ASGIApp, max_bytes: int, seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _send_error(
                send, 400, "body", "body: Content-Length is invalid; give the size in bytes"
            )
            return
        if declared is not None and declared > self.max_bytes:
            await self._too_large(send, declared)
            return
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + self.seconds
        while True:
            try:
                message = await asyncio.wait_for(receive(), deadline - time.monotonic())
            except TimeoutError:
                await self._too_slow(send, size)
                return
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send, None)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await _contained(self.app, scope, _replay(b"".join(chunks), receive), send)

    async def _too_large(self, send: Send, declared: int | None) -> None:
        size = f"{declared:,} bytes" if declared is not None else "a streamed body"
        limit = f"{self.max_bytes:,} bytes"
        await _send_error(
            send,
            413,
            "body",
            f"body: {size} is too large; send at most {limit} (this server's limit; "
            "run bigger jobs with the sermsim command line)",
        )

    async def _too_slow(self, send: Send, received: int) -> None:
        await _send_error(
            send,
            408,
            "body",
            f"body: {received:,} bytes arrived in {self.seconds:g} s and the rest did not; "
            "send the whole body at once (this server's time limit)",
        )


async def _contained(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run the app; an unexpected exception (a bug of ours) becomes a 500 naming nothing about
    the request, logged by its type alone. It is not passed on: the server's own handler
    would log its message and traceback, which may quote a person's values."""
    started = False

    async def watched(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    try:
        await app(scope, receive, watched)
    except Exception as exc:
        log.error(
            "unexpected %s (its message is not logged: it may quote a person)", type(exc).__name__
        )
        if not started:
            await _send_error(send, 500, None, "an unexpected error in sermsim; please report it")


def _content_length(scope: Scope) -> int | None:
    """The declared body size; None when not declared, -1 when not a whole number."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else -1
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the buffered body once, then whatever the client sends."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_error(send: Send, status: int, field: str | None, message: str) -> None:
    """An error response sent straight from the middleware; the connection is closed, as the
    unread rest of the body cannot be skipped cheaply."""
    payload = json.dumps(error_body(field, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
