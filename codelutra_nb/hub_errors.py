"""A failed Hub request in the Hub's own words, with what to do about it (`hub_errors`, `describe`).

The first line of an `HfHubHTTPError` is often only ``(Request ID: ...)``; the reason is the server's message
(``err.server_message``), and for a rate limit the retry time is in the ``RateLimit`` / ``Retry-After`` headers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
from huggingface_hub.utils import parse_ratelimit_headers

from .errors import StoreError

NETWORK_ERRORS = (httpx2.TransportError, OfflineModeIsEnabled)


class HubRateLimited(StoreError):
    """The Hub answered 429; ``retry_at`` is when (``time.time()``) it accepts requests again, if it said."""

    def __init__(self, message: str, retry_at: float | None):
        super().__init__(message)
        self.retry_at = retry_at


class HubConflict(StoreError):
    """The Hub answered 412: the branch moved (another writer committed) since the commit named as its parent."""


def status_of(err: BaseException) -> int | None:
    """The HTTP status of a Hub error, None for other errors."""
    return getattr(getattr(err, "response", None), "status_code", None)


def server_message(err: BaseException) -> str:
    """What the Hub said: ``server_message``, else ``X-Error-Message``, else the error's text without the request id."""
    said = getattr(err, "server_message", None)
    if not said:
        headers = getattr(getattr(err, "response", None), "headers", None) or {}
        said = headers.get("X-Error-Message")
    if not said:
        lines = [line for line in str(err).splitlines() if line.strip() and not line.startswith("(Request ID")]
        said = lines[0] if lines else type(err).__name__
    return " ".join(str(said).split())


def retry_after(err: BaseException) -> int | None:
    """Seconds until a rate-limited request may be retried, from ``RateLimit`` or ``Retry-After``; None if unsaid."""
    headers = getattr(getattr(err, "response", None), "headers", None) or {}
    info = parse_ratelimit_headers(headers)
    if info is not None:
        return info.reset_in_seconds
    value = str(headers.get("Retry-After", "")).strip()
    return int(value) if value.isdigit() else None


def describe(err: BaseException, action: str, repo_id: str, repo_type: str) -> str:
    """One message: what failed, the status, the Hub's words, what to do, and the request id to quote to support."""
    status = status_of(err)
    request_id = getattr(err, "request_id", None)
    said = server_message(err)
    return (
        f"The Hub refused {action}{f' ({status})' if status else ''}: {said}{'' if said.endswith('.') else '.'} "
        f"{_hint(status, err, repo_id, repo_type)}" + (f" (Request ID: {request_id})" if request_id else "")
    )


def _hint(status: int | None, err: BaseException, repo_id: str, repo_type: str) -> str:
    if status == 401:
        return (
            "The token is missing, invalid or expired: set HF_TOKEN to a valid token "
            "(https://huggingface.co/settings/tokens) or run `huggingface_hub.login()`."
        )
    if status == 403:
        return (
            f"The token may not write to the {repo_type} repo {repo_id}: use a token with role 'write', or a "
            f"fine-grained token with 'repo.write' on {repo_id.split('/')[0]!r} or on this {repo_type} repo."
        )
    if status == 404:
        return (
            f"The {repo_type} repo {repo_id}, or the branch or file asked for, does not exist or the token cannot "
            "see it: check hub_model_repo / hub_dataset_repo and the token; `store.preflight()` creates missing repos."
        )
    if status == 409:
        return f"It conflicts with what the {repo_type} repo {repo_id} already holds (an existing repo or branch)."
    if status == 412:
        return (
            f"The branch of {repo_id} moved while this commit was prepared: another machine or notebook pushed to it "
            "at the same time, more than once. Run one writer per repo; a rerun looks again and pushes what is missing."
        )
    if status == 429:
        wait = retry_after(err)
        when = f"in {wait} s (at {time.strftime('%H:%M:%S', time.localtime(time.time() + wait))})" if wait else "later"
        return f"The Hub's rate limit was reached; it accepts requests again {when}."
    if status is not None and status >= 500:
        return "The Hub has trouble answering: retry later (https://status.huggingface.co)."
    return "Retry later; if it persists, check the repo on the Hub."


@contextmanager
def hub_errors(action: str, repo_id: str, repo_type: str, endpoint: str, *, any_error: bool = False) -> Iterator[None]:
    """Turn network and Hub errors (any exception with ``any_error``: uploads) into `StoreError` naming ``action``.

    A 429 becomes `HubRateLimited`, so a caller can keep the work locally and push it later; a 412 `HubConflict`, so
    a caller can look again at what the other writer pushed.
    """
    try:
        yield
    except StoreError:
        raise
    except NETWORK_ERRORS as err:
        raise StoreError(
            f"Cannot reach the Hugging Face Hub at {endpoint} while {action} ({type(err).__name__}: {err}). "
            "Check the network, or HF_ENDPOINT if set."
        ) from err
    except HfHubHTTPError as err:
        message = describe(err, action, repo_id, repo_type)
        if status_of(err) == 429:
            wait = retry_after(err)
            raise HubRateLimited(message, time.time() + wait if wait is not None else None) from err
        raise (HubConflict if status_of(err) == 412 else StoreError)(message) from err
    except Exception as err:
        if not any_error:
            raise
        cause = err.__cause__ or err.__context__  # an upload's HTTP error, wrapped by huggingface_hub
        why = "Retry later; if it persists, check the repo on the Hub."
        if isinstance(cause, HfHubHTTPError):
            why = describe(cause, action, repo_id, repo_type)
            if status_of(cause) == 412:
                raise HubConflict(why) from err
        raise StoreError(
            f"{action[0].upper()}{action[1:]} failed ({type(err).__name__}): {' '.join(str(err).split())} {why}"
        ) from err
