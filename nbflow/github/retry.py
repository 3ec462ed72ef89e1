"""Retrying GitHub API calls: which failures deserve another attempt, how long to wait
before it, and when to give up at once.

Design decisions:

- One loop, here, retries whole operations; PyGithub and urllib3 retry nothing
  (``retry=None``). An operation is written to be attempted again: it first looks for
  what an earlier attempt may have created (GitHub can create a comment and still
  answer 502), so a create is never blindly repeated.
- Transient failures are 5xx answers and lost connections: retried after a backoff
  doubling from :attr:`Waits.backoff`, jittered to between half and all of it so that
  jobs failing together do not retry together. Rate limits wait as GitHub asks
  (``Retry-After``, ``X-RateLimit-Reset``, a minute for a secondary limit).
- Every wait, whatever asks for it, is at most :attr:`Waits.max_wait` (60 s): a longer
  one fails at once, naming when to try again, instead of blocking a CI job. With
  :attr:`Waits.attempts` attempts the waits of one operation are bounded in total.
- The clock, the sleep and the jitter are parameters, so tests assert exact waits
  without spending them.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
from github import GithubException

__all__ = ["RateLimit", "Tries", "Waits", "rate_limit", "with_retries"]

log = logging.getLogger(__name__)

T = TypeVar("T")

SECONDARY_RATE_LIMIT_WAIT = 60.0  # GitHub: "wait for at least one minute" without headers


@dataclass(frozen=True)
class Waits:
    """How often to attempt an operation and how long to wait between attempts."""

    attempts: int = 3
    backoff: float = 2.0  # seconds before the second attempt, doubled for each next one
    max_wait: float = 60.0  # the longest single wait; a longer one fails at once
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time  # seconds since the epoch, as rate-limit resets
    jitter: Callable[[], float] = random.random  # in [0, 1): the share of half a backoff

    def backoff_before(self, attempt: int) -> float:
        """The wait before ``attempt`` (2, 3, …) after a transient failure."""
        full: float = self.backoff * 2.0 ** (attempt - 2)
        return full / 2 + full / 2 * self.jitter()


@dataclass(frozen=True)
class Tries:
    """How many attempts an operation took, from the first to the last failure's end."""

    count: int
    seconds: float


@dataclass(frozen=True)
class RateLimit:
    """What GitHub asked to wait for, read from a rate-limited answer."""

    wait: float | None  # seconds; None when GitHub gave no time
    at: datetime | None  # when the wait ends
    retry_after: bool  # from a Retry-After header (else a reset time or nothing)


def with_retries(
    waits: Waits,
    attempt: Callable[[int], T],
    failed: Callable[[Exception, Tries], Exception],
) -> T:
    """``attempt(number)`` until it returns, retrying transient failures and short
    rate limits; otherwise raise ``failed(exc, tries)`` from the last failure."""
    started = waits.clock()
    number = 1
    while True:
        try:
            return attempt(number)
        except (GithubException, requests.RequestException) as exc:
            wait = _wait_after(exc, number, waits)
            if wait is None:
                raise failed(exc, Tries(number, waits.clock() - started)) from exc
            log.info("%s; attempt %d of %d in %.1f s", _what(exc), number + 1, waits.attempts, wait)
            waits.sleep(wait)
            number += 1


def rate_limit(exc: GithubException, now: float) -> RateLimit | None:
    """What a 403/429 (or a 5xx with ``Retry-After``) asks to wait; None: no rate limit."""
    headers = _headers(exc)
    retry_after = _retry_after(headers.get("retry-after", ""), now)
    if retry_after is not None:
        return RateLimit(retry_after, datetime.fromtimestamp(now + retry_after, UTC), True)
    if exc.status not in (403, 429):
        return None
    reset = headers.get("x-ratelimit-reset", "")
    if headers.get("x-ratelimit-remaining") == "0" and reset.isdigit():
        # +1: it is not clear when within that second the limit resets
        return RateLimit(
            max(int(reset) - now, 0) + 1, datetime.fromtimestamp(int(reset), UTC), False
        )
    if exc.status == 429 or "rate limit" in message_of(exc.data).lower():
        at = datetime.fromtimestamp(now + SECONDARY_RATE_LIMIT_WAIT, UTC)
        return RateLimit(SECONDARY_RATE_LIMIT_WAIT, at, False)
    return None


def message_of(data: Any) -> str:
    """GitHub's ``message`` from an answer's body (or the body itself)."""
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    return str(data).strip() if data else "(no message)"


def _wait_after(exc: Exception, number: int, waits: Waits) -> float | None:
    """The wait before attempting again after ``exc``; None: do not."""
    if number >= waits.attempts:
        return None
    if isinstance(exc, GithubException):
        limit = rate_limit(exc, waits.clock())
        if limit is not None:
            fits = limit.wait is not None and limit.wait <= waits.max_wait
            return limit.wait if fits else None
        return waits.backoff_before(number + 1) if exc.status >= 500 else None
    transient = isinstance(exc, requests.ConnectionError | requests.Timeout)
    return waits.backoff_before(number + 1) if transient else None


def _retry_after(value: str, now: float) -> float | None:
    """Seconds from a ``Retry-After`` value: delta-seconds or an HTTP date."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):  # empty or not a date: no usable wait
        return None
    return max(moment.timestamp() - now, 0.0) if moment.tzinfo else None


def _headers(exc: GithubException) -> Mapping[str, str]:
    return {k.lower(): str(v) for k, v in (exc.headers or {}).items()}


def _what(exc: Exception) -> str:
    """The failure, for a log line: no message GitHub wrote, which could hold anything."""
    if isinstance(exc, GithubException):
        return f"GitHub answered {exc.status}"
    return f"cannot reach GitHub ({type(exc).__name__})"
