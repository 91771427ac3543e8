"""What every request to `rag serve` passes before Gradio sees it: a known Host, and no other
site's Origin.

A page on another site can make a visitor's browser send requests to the UI on their machine:
through DNS rebinding (its own name resolving to 127.0.0.1, so the browser treats the UI as
that site), or as a cross-site form post. Gradio's own CORS handling only withholds the
response headers from such requests; the request still runs. So the Host must be one of the
names the UI is served under (Starlette's TrustedHostMiddleware), and a request that carries
an Origin must come from the page the UI served.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def allowed_hosts(bound: str, extra: str = "") -> list[str]:
    """The Host names the UI answers to: this machine's loopback names, the bound address,
    and `extra` (RAG_UI_ALLOWED_HOSTS, comma-separated; `*` for any). Bound to every address
    (0.0.0.0, ::), the UI cannot know the names it is reached by: any is allowed unless
    `extra` lists them (a login is required there anyway)."""
    named = [name.strip().lower() for name in extra.split(",") if name.strip()]
    if _is_wildcard(bound) and not named:
        return ["*"]
    return list(dict.fromkeys([*LOOPBACK_NAMES, bound.lower(), *named]))


def is_loopback(host: str) -> bool:
    """Whether an address is this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


class SameOriginOnly:
    """Refuses (403) a request whose Origin header names another site than its Host: the UI's
    own page always sends its own origin, scripts (gradio_client, curl) send none."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":  # Gradio's browser traffic is HTTP (fetch and SSE)
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            if origin is not None and urlsplit(origin).netloc.lower() != (
                headers.get("host", "").lower()
            ):
                refusal = PlainTextResponse("Cross-origin requests are not allowed.", 403)
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def request_guards(bound: str, extra_hosts: str = "") -> list[Middleware]:
    """The middleware `rag serve` puts in front of the app (launch's `app_kwargs`)."""
    return [
        Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(bound, extra_hosts)),
        Middleware(SameOriginOnly),
    ]
