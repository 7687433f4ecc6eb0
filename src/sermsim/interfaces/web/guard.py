"""The request-body limit (an ASGI middleware) and the one shape of every error response.

A body larger than the limit is refused with 413 without being read: at once when its
``Content-Length`` says so, and otherwise (a streamed, chunked body) as soon as the bytes
received pass the limit. The body that passes is at most the limit, held once and handed on.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sermsim import DISCLAIMER


def error_body(field: str | None, message: str) -> dict[str, Any]:
    """Every error's JSON: ``{"error": {"field", "message"}, "disclaimer"}``.

    >>> error_body("patient.age", "patient.age: 300 is invalid; ...")["error"]["field"]
    'patient.age'
    """
    return {"error": {"field": field, "message": message}, "disclaimer": DISCLAIMER}


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, reading no more than the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

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
        while True:
            message = await receive()
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
        await self.app(scope, _replay(b"".join(chunks), receive), send)

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


async def _send_error(send: Send, status: int, field: str, message: str) -> None:
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
