"""Errors in OpenAI's JSON shape, {"error": {"message", "type", "param", "code"}}, so that
clients raise their usual exception types (BadRequestError, NotFoundError, ...) with our message."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from adaptlab.serve.schemas import Unserved

log = logging.getLogger("adaptlab.serve")

TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "invalid_request_error",
         405: "invalid_request_error", 413: "invalid_request_error", 429: "rate_limit_error", 500: "server_error",
         504: "timeout_error"}


class APIError(Exception):
    """A request that cannot be served: its status, a message naming what was wrong, a short code."""

    def __init__(self, status: int, message: str, code: str, param: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.code, self.param)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def error_body(status: int, message: str, code: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": TYPES.get(status, "invalid_request_error"), "param": param,
                      "code": code}}


def describe_invalid(exc: RequestValidationError) -> APIError:
    """The first problem with a request body, as one line naming the field."""
    err = exc.errors()[0]
    if err["type"] == "json_invalid":
        where = f" at character {err['loc'][-1]}" if isinstance(err["loc"][-1], int) else ""
        reason = err.get("ctx", {}).get("error", "not JSON")
        return APIError(400, f"malformed JSON body{where}: {reason}", "invalid_json")
    cause = err.get("ctx", {}).get("error")
    if isinstance(cause, Unserved):
        return APIError(400, str(cause), "unsupported_parameter", param=cause.field)
    field = ".".join(str(part) for part in err["loc"] if part != "body")
    if not field:
        return APIError(400, "the request body must be a JSON object", "invalid_request")
    message = err["msg"].removeprefix("Value error, ")
    return APIError(400, f"{field}: {message}", "invalid_value", param=field)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return describe_invalid(exc).response()

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return JSONResponse(error_body(exc.status_code, message, "not_found" if exc.status_code == 404 else "http_error"),
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error serving %s", request.url.path)
        return JSONResponse(error_body(500, f"internal error: {type(exc).__name__}", "internal_error"),
                            status_code=500)
