"""One GitHub call: the PyGithub client (the token, GitHub's media type, a pinned REST
API version, pacing as GitHub asks), the call retried (:mod:`nbflow.github.retry`),
and its failure translated into a :class:`GitHubError` naming the operation, GitHub's
status and message, and a fix, with the token redacted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from github import Auth, Github, GithubException

from nbflow.github.retry import RateLimit, Tries, message_of, rate_limit, with_retries
from nbflow.github.settings import GitHubError, GitHubSettings

T = TypeVar("T")
API_VERSION = "2022-11-28"  # X-GitHub-Api-Version
MEDIA_TYPE = "application/vnd.github+json"
_LATER = "run the command again later (https://www.githubstatus.com shows GitHub's incidents)"


def github_client(settings: GitHubSettings) -> Github:
    """PyGithub retrying nothing (:func:`attempted` does), pacing as GitHub asks unless
    ``throttle`` is off."""
    pacing: dict[str, Any] = (
        {}
        if settings.throttle
        else {"seconds_between_requests": None, "seconds_between_writes": None}
    )
    return Github(
        auth=_Token(settings.token),
        base_url=settings.api_url,
        retry=None,
        per_page=100,
        lazy=True,
        api_version=API_VERSION,
        **pacing,
    )


class _Token(Auth.Token):
    """The token, and GitHub's media type on every request (PyGithub sends ``*/*``)."""

    def authentication(self, headers: dict[str, str]) -> None:
        super().authentication(headers)
        headers.setdefault("Accept", MEDIA_TYPE)


@dataclass(frozen=True)
class Operation:
    """What was being done, to name it and suggest fixes when GitHub refuses."""

    description: str
    permission: Callable[[str], str]  # GitHub's 403 message → what to grant
    invalid_hints: Mapping[str, str]  # a 422 error's field → a hint
    missing: str = ""  # what a 404 may mean is missing, besides the repository


def attempted(settings: GitHubSettings, operation: Operation, attempt: Callable[[int], T]) -> T:
    """``attempt`` with retries, its failure translated into a GitHubError."""

    def failed(exc: Exception, tries: Tries) -> GitHubError:
        return _translated(exc, settings, operation, tries)

    return with_retries(settings.waits, attempt, failed)


def _translated(
    exc: Exception, settings: GitHubSettings, operation: Operation, tries: Tries
) -> GitHubError:
    if isinstance(exc, GithubException):
        explained = _explain(exc, settings, operation, tries)
        message = f"{operation.description}: GitHub answered {explained}"
        return GitHubError(_redact(message, settings), status=exc.status)
    message = (
        f"{operation.description}: cannot reach {settings.api_url}{_tried(tries)}: {exc}; "
        "check the network, and GITHUB_API_URL when set"
    )
    return GitHubError(_redact(message, settings))


def _explain(
    exc: GithubException, settings: GitHubSettings, operation: Operation, tries: Tries
) -> str:
    status, message = exc.status, message_of(exc.data).rstrip(".")  # before our ": …"
    variable, tried = settings.token_variable, _tried(tries)
    limit = rate_limit(exc, settings.waits.clock())
    if status >= 500:
        when = _when_to_retry(limit, settings) if limit else _LATER
        return f"{status} {message}{tried}: GitHub failed to carry out the request; {when}"
    if limit is not None:
        return f"{status} {message}: rate limit exceeded{tried}; {_when_to_retry(limit, settings)}"
    if status == 401:
        return f"401 {message}: the token in {variable} is wrong or expired; set a valid one"
    if status == 403:
        fix = operation.permission(message)
        return f"403 {message}: the token in {variable} lacks permission; {fix}"
    if status == 404:
        what = f"{operation.missing} or repository" if operation.missing else "repository"
        return (
            f"404 {message}: {what} {settings.repository} not found, "
            f"or the token in {variable} has no access to it"
        )
    if status == 422:
        return f"422 {validation_message(exc.data, operation.invalid_hints)}"
    return f"{status} {message}"


def validation_message(data: Any, hints: Mapping[str, str] | None = None) -> str:
    """``Validation Failed: head invalid (is branch x pushed?); ...`` from a 422 body."""
    errors = data.get("errors", []) if isinstance(data, dict) else []
    parts = [_validation_error(error, hints or {}) for error in errors]
    return "; ".join([message_of(data), *parts]) if parts else message_of(data)


def _validation_error(error: Any, hints: Mapping[str, str]) -> str:
    if not isinstance(error, dict):
        return str(error)
    if error.get("message"):
        return str(error["message"])
    text = f"{error.get('field', '?')} {error.get('code', 'invalid')}"
    hint = hints.get(str(error.get("field")))
    return f"{text} ({hint})" if hint else text


def _tried(tries: Tries) -> str:
    """`` (3 attempts over 6 s)`` after several attempts, nothing after one."""
    return f" ({tries.count} attempts over {tries.seconds:.0f} s)" if tries.count > 1 else ""


def _when_to_retry(limit: RateLimit, settings: GitHubSettings) -> str:
    """When to try again, and why nbflow did not wait for it."""
    if limit.wait is None or limit.at is None:
        return "wait a few minutes before trying again"
    at = f"{limit.at:%Y-%m-%d %H:%M:%S} UTC"
    when = (
        f"GitHub asks to wait {limit.wait:.0f} s, until {at}"
        if limit.retry_after
        else f"it resets at {at}"
    )
    max_wait = settings.waits.max_wait
    if limit.wait > max_wait:
        return f"{when}: longer than nbflow waits ({max_wait:.0f} s); run the command again then"
    return when


def _redact(text: str, settings: GitHubSettings) -> str:
    return text.replace(settings.token, "***") if settings.token else text
