"""Every failure as one sentence a user can act on, with the user's keys redacted from it.

`describe_error` turns whatever a server or the SDK raised into what happened and what to do; keys
are taken out with lib/core/secrets.py's `redact`. The providers' code path
(lib/backends/providers.py) records failures with these; nothing here does I/O.
"""

from __future__ import annotations

import json

import openai
import pydantic

from lib.backends.retry import parse_retry_after
from lib.core.errors import NotRecorded
from lib.core.secrets import redact

NOT_OPENAI_HINT = "check that the base URL is an OpenAI-compatible API (it usually ends in /v1), then retry."
NO_CHOICES = (
    "The server answered, but with no reply (an empty choices list): a content filter or a server fault. "
    "Retry, or try another model."
)


# How many redirects the SDK's HTTP client follows before it gives up (httpx's default, which the SDK keeps).
MAX_REDIRECTS = 20

STREAM_ERROR = "The server stopped the reply with an error: retry, or try another model"


def cut_off(why: str) -> str:
    return (
        f"The reply was cut off part-way ({why}): the partial answer is kept, marked incomplete. Retry for a full one."
    )


def _server_detail(exc: openai.APIError) -> str:
    body = exc.body
    if isinstance(body, dict):
        body = body.get("error", body)
        if isinstance(body, dict):
            body = body.get("message", body)
    detail = " ".join(str(body or exc.message or "").split())  # an HTML error page spans many lines
    return detail[:400]


_STATUS_ADVICE: dict[int, str] = {
    400: "The server refused the request (400): check the model's settings in the sidebar",
    401: "The API key was rejected (401): check the key in the sidebar or your environment",
    403: "The key is not allowed to use this model or resource (403): check the key's project and "
    "permissions, or pick another model",
    404: "Not found (404): check the model or deployment name and the base URL",
    408: "The server timed out (408): try again",
    413: "The request is too large for the server (413): leave some messages out",
    422: "The server could not process the request (422)",
    429: "Rate limited (429): wait a moment, then retry",
}


# Error codes that name the problem better than the status does.
_CODE_ADVICE: dict[str, str] = {
    "context_length_exceeded": "The prompt is longer than the model's context window{status}: leave messages "
    "out, pick a strategy that sends less, or correct the context window in the sidebar",
    "insufficient_quota": "The account's quota is used up (429 insufficient_quota): check the plan and billing; "
    "retrying will not help",
}
# llama.cpp says "Requested tokens (8192) exceed context window of 8192", with no code, even for a
# prompt that fills the window exactly; OpenAI "This model's maximum context length is …".
_CONTEXT_HINTS = ("context length", "context window", "maximum context", "too many tokens", "exceeds the context")


def _advice(code: str, status: int | None, detail: str) -> str | None:
    """The sentence an error code, or a context-length complaint, calls for; None if neither."""
    if code not in _CODE_ADVICE and any(hint in detail.lower() for hint in _CONTEXT_HINTS) and status in (400, None):
        code = "context_length_exceeded"
    advice = _CODE_ADVICE.get(code)
    return advice and advice.format(status=f" ({status})" if status else "")


def _status_advice(exc: openai.APIStatusError, detail: str) -> str:
    code = exc.code if isinstance(exc.code, str) else ""
    status = exc.status_code
    return _advice(code, status, detail) or _STATUS_ADVICE.get(
        status, f"The server failed ({status}): retry in a moment" if status >= 500 else f"The server answered {status}"
    )


def describe_error(exc: Exception, secrets: tuple[str, ...] = ()) -> str:
    """One clear sentence about what went wrong and what to do."""
    if isinstance(exc, NotRecorded):  # a replayed demo's call that was not recorded: its own sentence
        message = str(exc)
    elif isinstance(exc, openai.APITimeoutError):
        message = (
            "No answer before the timeout: the server may be busy or slow. Retry, or raise the timeout in the sidebar."
        )
    elif isinstance(exc, openai.APIConnectionError) and type(exc.__cause__).__name__ == "TooManyRedirects":
        # The SDK's HTTP client follows redirects (a key goes along only to the same origin), up to a cap.
        url = str(getattr(getattr(exc, "request", None), "url", "")) or "the server"
        message = (
            f"The server redirected in a loop ({MAX_REDIRECTS} redirects) from {url}: check the base URL "
            "(its scheme, host and path: a proxy in front of the server may send every request on again)."
        )
    elif isinstance(exc, openai.APIConnectionError):
        url = str(getattr(getattr(exc, "request", None), "url", "")) or "the server"
        message = f"Could not connect to {url}: is the server running and the URL right?"
    elif isinstance(exc, openai.APIStatusError):
        detail = _server_detail(exc)
        advice = _status_advice(exc, detail)
        retry_after = parse_retry_after(exc.response.headers) if exc.response is not None else None
        if retry_after is not None:
            advice += f" (the server asks to wait {retry_after:g} s)"
        message = f"{advice}. Server said: {detail}" if detail else f"{advice}."
    elif type(exc) is openai.APIError:
        # An `error` event in a stream that began with 200 (the embedded server's way, and OpenAI's,
        # to fail once the status line is sent): no status, the server's own code and message.
        detail = _server_detail(exc)
        code = exc.code if isinstance(exc.code, str) else ""
        advice = _advice(code, None, detail) or STREAM_ERROR
        message = f"{advice}. Server said: {detail}" if detail else f"{advice}."
    elif isinstance(exc, json.JSONDecodeError):
        message = f"The server's answer is not valid JSON ({exc.msg} at character {exc.pos}): {NOT_OPENAI_HINT}"
    elif isinstance(exc, (pydantic.ValidationError, AttributeError, TypeError)):
        # The SDK builds replies without validating them: a wrong shape shows when a field is read.
        message = f"The server's answer is not in the OpenAI format ({type(exc).__name__}): {NOT_OPENAI_HINT}"
    else:
        message = f"The call failed: {type(exc).__name__}: {exc}. Retry; if it fails again, check the backend settings."
    return redact(message, secrets)
