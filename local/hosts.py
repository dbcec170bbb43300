"""The local servers answer only to their own names (DNS rebinding).

A web page can make the browser send requests to 127.0.0.1 under a name of its own (its DNS
answer changed to 127.0.0.1 after the page loaded): the request arrives with `Host: evil.example`.
Every server of the local stack (the HTTP API and its console, the AWS emulator holding the
OpenAI key's secret, the fake LLM, the Lambda API) answers such a request 421 Misdirected
Request, before anything runs. A request without a Host (HTTP/1.0, not a browser) is served.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

MISDIRECTED = 421
ALLOWED_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})
MESSAGE = "this local server answers only to 127.0.0.1 and localhost"


def host_allowed(host: str | None, port: int) -> bool:
    """`Host` is 127.0.0.1, localhost or [::1], with no port or this server's port."""
    if host is None:
        return True
    value = host.strip().lower()
    if value.startswith("["):
        name, bracket, rest = value.partition("]")
        name += bracket
        if rest and not rest.startswith(":"):
            return False
        port_part = rest[1:] if rest else None
    else:
        name, colon, port_part_or_empty = value.partition(":")
        port_part = port_part_or_empty if colon else None
    if name not in ALLOWED_NAMES:
        return False
    return port_part is None or port_part == str(port)


def misdirected_body() -> bytes:
    return json.dumps({"message": MESSAGE}).encode()


def refuse_misdirected(req: BaseHTTPRequestHandler) -> None:
    """Answer 421 on an `http.server` request and close the connection (its body unread)."""
    body = misdirected_body()
    req.close_connection = True
    req.send_response(MISDIRECTED)
    req.send_header("Content-Type", "application/json")
    req.send_header("Content-Length", str(len(body)))
    req.send_header("Connection", "close")
    req.end_headers()
    if req.command != "HEAD":
        req.wfile.write(body)
