"""The one error boundary (every error as JSON), security headers, and CORS for the embeddable widget."""

from __future__ import annotations

import json
import logging
import re
from ipaddress import ip_address, ip_network

from aiohttp import web

from handoff.errors import HubError, Invalid, RateLimited
from handoff.keys import SETTINGS

log = logging.getLogger(__name__)

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
CUSTOMER_API = "/api/v1/conversations"
# bytes of a request body: room for a message of MAX_MESSAGE_CHARS (2000) however a client escapes it ("\\ud83d\\ude00",
# 12 bytes, for one emoji), so that an over-long message gets the precise 413 message_too_large, not this one
MAX_BODY = 32 * 1024


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


@web.middleware
async def errors(request: web.Request, handler):
    """Domain errors and HTTP errors become {"error": {"code", "message"}}; nobody ever sees a traceback."""
    try:
        return await handler(request)
    except HubError as exc:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        body = error_body(exc.code, exc.message)
        if exc.fields:
            body["error"]["fields"] = exc.fields
        return web.json_response(body, status=exc.status, headers=headers)
    except web.HTTPRequestEntityTooLarge:
        message = f"The request body is larger than {MAX_BODY} bytes."
        return web.json_response(error_body("too_large", message), status=413)
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/api/"):
            raise
        return web.json_response(error_body(_code(exc), exc.reason), status=exc.status, headers=_keep(exc))
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response(
            error_body("internal", "Something went wrong on our side. Please try again."), status=500
        )


def _code(exc: web.HTTPException) -> str:
    return exc.reason.lower().replace(" ", "_")


def _keep(exc: web.HTTPException) -> dict:
    return {k: v for k, v in exc.headers.items() if k in ("Allow",)}


@web.middleware
async def security_headers(request: web.Request, handler):
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if response.content_type == "text/html":
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def forwarded_by_proxy(trusted_proxies: str):
    """Behind a reverse proxy: the customer's address, the public scheme and host from X-Forwarded-For, -Proto and
    -Host, believed only when the request comes from one of `trusted_proxies`. The customer's address is the
    rightmost one in X-Forwarded-For that is not a trusted proxy (what a client writes there itself is further left).
    aiohttp-remotes' XForwardedStrict refuses a request whose X-Forwarded-For holds more addresses than there are
    proxies (a customer behind a proxy of their own), its XForwardedRelaxed believes anyone: hence this."""
    networks = [ip_network(part.strip(), strict=False) for part in trusted_proxies.split(",") if part.strip()]

    def trusted(address: str | None) -> bool:
        try:
            return address is not None and any(ip_address(address) in network for network in networks)
        except ValueError:
            return False

    @web.middleware
    async def from_proxy(request: web.Request, handler):
        if not trusted(request.remote):
            return await handler(request)
        hops = [a.strip() for a in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if a.strip()]
        remote = request.remote
        for address in reversed(hops):
            remote = address
            if not trusted(address):
                break
        overrides = {"remote": remote}
        scheme = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        if scheme in ("http", "https"):
            overrides["scheme"] = scheme
        if host := request.headers.get("X-Forwarded-Host", "").split(",")[0].strip():
            overrides["host"] = host
        return await handler(request.clone(**overrides))

    return from_proxy


def allowed_origin(request: web.Request, origin: str | None) -> bool:
    """The hub's own origin, or one of WIDGET_ORIGINS ('*' = any)."""
    if origin is None:
        return True  # not a browser: browsers always send Origin on cross-site and WebSocket requests
    own = f"{request.scheme}://{request.host}"
    allowed = {o.strip().rstrip("/") for o in request.app[SETTINGS].widget_origins.split(",") if o.strip()}
    return origin == own or "*" in allowed or origin in allowed


@web.middleware
async def widget_cors(request: web.Request, handler):
    """The customer API may be called from the pages that embed the widget (token auth, no cookies)."""
    origin = request.headers.get("Origin")
    if not request.path.startswith(CUSTOMER_API) or origin is None:
        return await handler(request)
    if not allowed_origin(request, origin):
        return web.json_response(error_body("origin_not_allowed", f"Origin {origin} may not use this API."), status=403)
    if request.method == "OPTIONS":
        response = web.Response(status=204)
    else:
        response = await handler(request)
    response.headers.update(
        {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
            "Access-Control-Max-Age": "600",
            "Access-Control-Expose-Headers": "Retry-After",
            "Vary": "Origin",
        }
    )
    return response


NUL_MESSAGE = "Text may not contain the NUL character (U+0000)."
SURROGATE_MESSAGE = "Text may not contain a lone UTF-16 surrogate (U+D800 to U+DFFF): it is not a character."
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")
MAX_DEPTH = 32  # no body or frame of the API nests deeper than a few levels


@web.middleware
async def no_nul(request: web.Request, handler):
    """No text anywhere may hold U+0000: PostgreSQL cannot store it, and no person types it. URL here, JSON in
    `parse_json`."""
    if "\x00" in request.path or any("\x00" in key or "\x00" in value for key, value in request.query.items()):
        raise Invalid(NUL_MESSAGE, "invalid_characters")
    return await handler(request)


def parse_json(raw: str | bytes) -> object:
    """JSON from a request body or a WebSocket frame; Invalid if it is not JSON, is nested deeper than MAX_DEPTH, or
    any text in it holds U+0000 or a lone surrogate."""
    return refuse_bad_text(load_json(raw))


def load_json(raw: str | bytes) -> object:
    """JSON, any JSON; Invalid if it is not JSON (or nests so deep, or has a number so long, that Python refuses
    to read it)."""
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Invalid(f"The body is not valid JSON: {exc}", "invalid_json") from exc
    except RecursionError as exc:
        raise Invalid(f"The JSON is nested more than {MAX_DEPTH} levels deep.", "too_deep") from exc
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise Invalid(f"The JSON holds a number Python will not read: {exc}", "invalid_json") from exc


def refuse_bad_text(data: object) -> object:
    """`data` as it is; Invalid if it nests deeper than MAX_DEPTH or any text in it (keys too) holds U+0000 or a
    lone UTF-16 surrogate (JSON's "\\ud800" escape: no character, and no database can store it)."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if (found := _NOT_TEXT.search(value)) is not None:
                raise Invalid(NUL_MESSAGE if found.group() == "\x00" else SURROGATE_MESSAGE, "invalid_characters")
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise Invalid(f"The JSON is nested more than {MAX_DEPTH} levels deep.", "too_deep")
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            pending.extend((item, depth + 1) for item in items)
    return data


async def json_body(request: web.Request) -> object:
    """The request's JSON body (empty body = None); a clear 400 for anything that is not JSON."""
    raw = await request.read()
    if not raw.strip():
        return None
    data = parse_json(raw)
    if data is None:
        raise Invalid("The body is JSON null: send an object, or no body where none is needed.", "invalid_body")
    return data
