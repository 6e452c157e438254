"""Every bad request becomes a 4xx JSON body ``{"error": {"type", "message"}}``: never a 500 or a traceback.

The message says what was expected and what was found. Types: ``invalid_json`` (400), ``invalid_request``
(422: wrong types, missing or unknown fields, values out of range), ``not_found`` (404: unknown model or
path), ``wrong_task`` (400: e.g. /generate on a classifier), ``too_large`` (413: text, body or count over a
limit, the limit named), ``method_not_allowed`` (405). An unexpected failure is a 500 ``internal`` with a
one-line message (logged with its traceback on the server, never sent).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import UserError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A request the server refuses: HTTP ``status``, a short ``type`` and a message for the user."""

    def __init__(self, status: int, type: str, message: str):
        super().__init__(message)
        self.status, self.type, self.message = status, type, message


def error_body(type: str, message: str) -> dict:
    return {"error": {"type": type, "message": message}}


def _json(status: int, type: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(type, message), status_code=status)


_TYPE_WORDS = {"string_type": "a string", "int_type": "an integer", "int_parsing": "an integer",
               "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
               "bool_parsing": "true or false", "list_type": "a list", "dict_type": "an object",
               "model_type": "a JSON object", "model_attributes_type": "a JSON object"}


def _found(value) -> str:
    text = repr(value)
    kind = {dict: "object", list: "list", str: "string", bool: "boolean", int: "integer", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)
    return f"{kind} {text[:60]}{'...' if len(text) > 60 else ''}"


def describe_validation(errors: list[dict]) -> tuple[int, str, str]:
    """(status, type, message) for pydantic's errors: malformed JSON -> 400, the rest -> 422."""
    parts = []
    for e in errors[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        kind = e.get("type", "")
        if kind == "json_invalid":
            ctx = e.get("ctx", {}).get("error", "")
            return 400, "invalid_json", f"expected a JSON object in the request body; found malformed JSON ({ctx})"
        if kind == "missing":
            parts.append(f"{loc}: required field missing")
        elif kind == "extra_forbidden":
            parts.append(f"{loc}: unknown field (found {_found(e.get('input'))})")
        elif kind in _TYPE_WORDS:
            parts.append(f"{loc}: expected {_TYPE_WORDS[kind]}; found {_found(e.get('input'))}")
        else:
            parts.append(f"{loc}: {e.get('msg', 'invalid')}; found {_found(e.get('input'))}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return 422, "invalid_request", "; ".join(parts) + more


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, e: ApiError):
        return _json(e.status, e.type, e.message)

    @app.exception_handler(UserError)
    async def _user(_: Request, e: UserError):  # the library's own input checks (prompt, CSV, ...)
        return _json(422, "invalid_input", str(e))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, e: RequestValidationError):
        status, type, message = describe_validation(list(e.errors()))
        return _json(status, type, message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException):
        if e.status_code == 404:
            return _json(404, "not_found", f"no such path {request.url.path}; see /docs for the endpoints")
        if e.status_code == 405:
            return _json(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}; see /docs")
        return _json(e.status_code, "http_error", str(e.detail))

    @app.exception_handler(Exception)
    async def _internal(request: Request, e: Exception):
        log.exception("internal error on %s", request.url.path)
        return _json(500, "internal", f"the server failed on this request ({type(e).__name__}); see its log")
