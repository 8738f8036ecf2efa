"""Who may talk to the server: a bearer token on every request but /health, and only under the
Host names it serves, so that a web page cannot reach a keyless loopback server through a
name of its own that resolves to 127.0.0.1 (DNS rebinding). Both run before the body is read."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from adaptlab.serve.errors import APIError

OPEN_PATHS = ("/health",)


class BearerAuth:
    """ASGI middleware: every request but /health (the API docs and schema included) must carry
    `Authorization: Bearer <api_key>`, else 401; an unauthenticated client learns nothing about its request."""

    def __init__(self, app: ASGIApp, api_key: str):
        self.app = app
        self.api_key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            error = self._refusal(dict(scope["headers"]).get(b"authorization", b""))
            if error is not None:
                await error.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, header: bytes) -> APIError | None:
        scheme, _, token = header.partition(b" ")
        if scheme.lower() != b"bearer" or not token.strip():
            return APIError(401, "missing API key: send the header 'Authorization: Bearer <key>'", "missing_api_key",
                            headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(token.strip(), self.api_key):
            return APIError(401, "invalid API key", "invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
        return None


def host_name(header: str) -> str:
    """The name in a Host header, without its port: `[::1]:8000` is `::1`, `Example.org:80` is `example.org`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


class TrustedHosts:
    """ASGI middleware: a request whose Host header names none of `allowed` gets 400."""

    def __init__(self, app: ASGIApp, allowed: list[str]):
        self.app = app
        self.allowed = {name.lower().strip("[]") for name in allowed}
        self.listed = ", ".join(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if host_name(header) not in self.allowed:
                error = APIError(400, f"Host {header!r} is not served here; served: {self.listed} (--allowed-host)",
                                 "invalid_host")
                await error.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)
