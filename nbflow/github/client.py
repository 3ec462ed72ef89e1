"""GitHub: pull requests and sticky comments carrying a run's report.

With :mod:`nbflow.github.retry`, the only module importing ``github`` (PyGithub).
Design decisions:

- Settings come from what GitHub Actions sets (``GITHUB_TOKEN``, ``GITHUB_REPOSITORY``,
  ``GITHUB_API_URL``, ``GITHUB_SERVER_URL``); outside Actions the repository and host
  come from the ``origin`` remote, read with ``git config`` (no GitPython here), and a
  remote on a host other than github.com means GitHub Enterprise at ``HOST/api/v3``.
- The token lives in :class:`GitHubSettings` (left out of its repr) and PyGithub's
  auth only. Every message this module builds is redacted before it is raised or
  logged, and a remote URL loses its user-info before it is shown.
- PyGithub runs lazily: objects are built from URLs without a GET, so opening a pull
  request is one POST. Every ``GithubException`` is translated at this boundary into
  a :class:`GitHubError` naming the operation, GitHub's status and message, and a fix.
- Retries and waits are :mod:`nbflow.github.retry`'s: each operation is attempted
  whole again, looking first for what a failed attempt may have created. Every wait
  is at most a minute; beyond that the error says when to try again.
- A workflow's sticky comment is the first comment that starts with its marker and
  was written by the token's own user or the GitHub Actions bot: a comment anyone
  else starts with the marker is never edited.
- Requests carry GitHub's media type and a pinned REST API version.
- Notebook links in bodies point at a branch, so they work once the run is pushed
  there (commit-back pushes before the pull request is opened).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from github import Auth, Github, GithubException
from github.IssueComment import IssueComment
from github.PullRequest import PullRequest
from github.Repository import Repository

from nbflow.errors import NbflowError
from nbflow.github.retry import RateLimit, Tries, Waits, message_of, rate_limit, with_retries
from nbflow.report.markdown import cut_markdown
from nbflow.report.notebook_changes import render_notebook_changes
from nbflow.report.run_diff import RunDiff
from nbflow.report.run_report import render_output_changes, render_report, render_summary_line
from nbflow.run_record import RunRecord

__all__ = [
    "DEFAULT_API_URL",
    "CommentResult",
    "GitHubError",
    "GitHubSettingsError",
    "GitHubSettings",
    "PullRequestResult",
    "Waits",
    "comment_marker",
    "github_settings",
    "open_pull_request",
    "upsert_comment",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_SERVER_URL = "https://github.com"
TOKEN_VARIABLES = ("GITHUB_TOKEN", "GH_TOKEN")
API_VERSION = "2022-11-28"  # X-GitHub-Api-Version
MEDIA_TYPE = "application/vnd.github+json"
ACTIONS_BOT = "github-actions[bot]"  # who comments with GitHub Actions' GITHUB_TOKEN
# GitHub rejects longer bodies; counted in UTF-16 code units (the most any count of
# GitHub's gives), with a margin for what GitHub may add (line ends, escapes)
MAX_BODY_LENGTH = 65_536
BODY_MARGIN = 536

# https://host/owner/repo(.git), ssh://git@host:22/owner/repo, git@host:owner/repo.git
_REMOTE = re.compile(
    r"^(?:[a-z+]+://(?:[^@/]+@)?(?P<host>[^/:]+)(?::\d+)?/|(?:[^@/:]+@)?(?P<scp_host>[^/:]+):)"
    r"(?P<repository>[\w.-]+/[\w.-]+?)(?:\.git)?/?$"
)
_REPOSITORY = re.compile(r"^[\w.-]+/[\w.-]+$")
_PERMISSION_SETTING = "Allow GitHub Actions to create and approve pull requests"
_LATER = "run the command again later (https://www.githubstatus.com shows GitHub's incidents)"


class GitHubError(NbflowError):
    """A GitHub API call failed, or the settings to make one are missing."""

    exit_code = 1

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GitHubSettingsError(GitHubError):
    """No token, or no repository to call the API on: invalid input, exit code 2."""

    exit_code = 2


@dataclass(frozen=True)
class GitHubSettings:
    """Where and as whom to call the GitHub API."""

    repository: str  # OWNER/REPO
    token: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    server_url: str = DEFAULT_SERVER_URL  # where pages and blobs are shown
    token_variable: str = "GITHUB_TOKEN"  # where the token came from, for messages
    throttle: bool = True  # pause between requests as GitHub asks (PyGithub's); off in tests
    waits: Waits = field(default=Waits(), repr=False, compare=False)  # retries and waits

    @property
    def owner(self) -> str:
        return self.repository.partition("/")[0]

    def blob_url(self, ref: str, path: str) -> str:
        """The web page of ``path`` (relative to the repository) on ``ref``."""
        return f"{self.server_url}/{self.repository}/blob/{quote(ref)}/{quote(path)}"


@dataclass(frozen=True)
class PullRequestResult:
    number: int
    url: str
    created: bool  # False: an open pull request for the branch was updated


@dataclass(frozen=True)
class CommentResult:
    id: int
    url: str
    created: bool  # False: the workflow's comment was updated in place


# Settings ---------------------------------------------------------------------------


def github_settings(env: Mapping[str, str], remote_url: str | None = None) -> GitHubSettings:
    """Settings from environment variables, falling back to the ``origin`` remote URL."""
    token_variable, token = _token(env)
    repository, host = _repository(env, remote_url)
    api_url = (env.get("GITHUB_API_URL") or _api_url_of(host)).rstrip("/")
    server_url = (env.get("GITHUB_SERVER_URL") or _server_url_of(api_url)).rstrip("/")
    return GitHubSettings(repository, token, api_url, server_url, token_variable)


def _token(env: Mapping[str, str]) -> tuple[str, str]:
    for name in TOKEN_VARIABLES:
        if env.get(name, "").strip():
            return name, env[name].strip()
    raise GitHubSettingsError(
        "no GitHub token: set GITHUB_TOKEN (or GH_TOKEN); in a GitHub Actions workflow "
        "add `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}` to the step"
    )


def _repository(env: Mapping[str, str], remote_url: str | None) -> tuple[str, str | None]:
    """OWNER/REPO and, when read from a remote URL, its host."""
    if named := env.get("GITHUB_REPOSITORY", "").strip():
        if not _REPOSITORY.match(named):
            raise GitHubSettingsError(f"GITHUB_REPOSITORY={named!r}: expected OWNER/REPO")
        return named, None
    if not remote_url:
        raise GitHubSettingsError(
            "cannot tell the GitHub repository: set GITHUB_REPOSITORY=OWNER/REPO "
            "or add an `origin` remote on GitHub"
        )
    match = _REMOTE.match(remote_url.strip())
    if not match:
        raise GitHubSettingsError(
            f"cannot tell the GitHub repository from the `origin` remote "
            f"{_without_userinfo(remote_url)!r}: set GITHUB_REPOSITORY=OWNER/REPO"
        )
    return match["repository"], match["host"] or match["scp_host"]


def _api_url_of(host: str | None) -> str:
    if host is None or host == "github.com":
        return DEFAULT_API_URL
    return f"https://{host}/api/v3"


def _server_url_of(api_url: str) -> str:
    """``https://HOST`` for ``https://HOST/api/v3`` (Enterprise Server) and for
    ``https://api.HOST`` (github.com, Enterprise Cloud with data residency)."""
    return api_url.removesuffix("/api/v3").replace("://api.", "://", 1)


def _without_userinfo(url: str) -> str:
    return re.sub(r"//[^@/]+@", "//", url)


# Pull requests ----------------------------------------------------------------------


def open_pull_request(
    settings: GitHubSettings,
    *,
    branch: str,
    base: str,
    record: RunRecord,
    run_path: str,
    previous: RunRecord | None,
    notebook_changes: RunDiff | None = None,
) -> PullRequestResult:
    """Open a pull request of ``branch`` into ``base`` carrying the run's report, or
    update the one already open for ``branch``.

    Args:
        run_path: the run folder relative to the repository, e.g. ``runs/x/<run-id>``.
        previous: the run to compare outputs with; None for a workflow's first run.
        notebook_changes: its notebooks against ``previous``'s, shown after the outputs.
    """
    title = render_summary_line(record)
    after = render_output_changes(record, previous)
    body = _body(settings, record, run_path, branch, after=after, changes=notebook_changes)
    operation = _Operation(
        f"opening a pull request for {branch} in {settings.repository}",
        _pull_request_permission,
        {"head": f"is branch {branch} pushed to {settings.repository}?"},
    )
    repo = _client(settings).get_repo(settings.repository)

    def attempt(number: int) -> PullRequestResult:
        # after a failed attempt the pull request may exist: GitHub can create it and
        # still fail to answer
        pull = _open_pull(repo, settings, branch) if number > 1 else None
        if pull is None:
            try:
                pull = repo.create_pull(base=base, head=branch, title=title, body=body)
                return PullRequestResult(pull.number, pull.html_url, created=True)
            except GithubException as exc:
                if exc.status != 422 or "already exists" not in _validation_message(exc.data):
                    raise
                pull = _open_pull(repo, settings, branch) or _vanished(settings, branch)
        if (pull.title, pull.body) != (title, body):
            pull.edit(title=title, body=body)
        return PullRequestResult(pull.number, pull.html_url, created=False)

    result = _attempted(settings, operation, attempt)
    log.info("%s pull request %s", "opened" if result.created else "updated", result.url)
    return result


def _open_pull(repo: Repository, settings: GitHubSettings, branch: str) -> PullRequest | None:
    for pull in repo.get_pulls(state="open", head=f"{settings.owner}:{branch}"):
        return pull
    return None


def _vanished(settings: GitHubSettings, branch: str) -> PullRequest:
    raise GitHubError(
        f"GitHub says a pull request for {branch} already exists in {settings.repository}, "
        "but lists none open for it"
    )


def _pull_request_permission(message: str) -> str:
    setting = f'enable the repository setting "{_PERMISSION_SETTING}"'
    if "not permitted to create" in message:
        return f"{setting} (Settings → Actions → General → Workflow permissions)"
    return (
        "give the workflow `permissions: pull-requests: write` and `contents: write`; "
        f"from GitHub Actions also {setting}"
    )


# Comments ---------------------------------------------------------------------------


def comment_marker(workflow: str) -> str:
    """The hidden first line that identifies a workflow's comment on a pull request."""
    return f"<!-- nbflow:report workflow={workflow} -->"


def upsert_comment(
    settings: GitHubSettings, *, pr_number: int, record: RunRecord, run_path: str
) -> CommentResult:
    """Post the run's report on pull request ``pr_number``: one comment per workflow,
    edited in place by later runs. Notebook links point at the pull request's branch."""
    operation = _Operation(
        f"commenting on pull request #{pr_number} in {settings.repository}",
        lambda message: "give the workflow `permissions: pull-requests: write`",
        {},
        f"pull request #{pr_number} in {settings.repository}",
    )
    marker = comment_marker(record.workflow)
    client = _client(settings)
    repo = client.get_repo(settings.repository)
    authors = _Authors(client)

    def attempt(number: int) -> CommentResult:
        # every attempt looks first, so one that follows a create GitHub carried out
        # but failed to answer finds that comment instead of posting a second one
        pull = repo.get_pull(pr_number)
        body = _body(settings, record, run_path, pull.head.ref, before=marker)
        comment = _sticky_comment(pull, marker, authors)
        if comment is None:
            comment = pull.create_issue_comment(body)
            log.info("created comment %s", comment.html_url)
            return CommentResult(comment.id, comment.html_url, created=True)
        changed = comment.body != body
        if changed:
            comment.edit(body)
        log.info("%s comment %s", "updated" if changed else "unchanged", comment.html_url)
        return CommentResult(comment.id, comment.html_url, created=False)

    return _attempted(settings, operation, attempt)


def _sticky_comment(pull: PullRequest, marker: str, authors: _Authors) -> IssueComment | None:
    """The first comment starting with ``marker`` that nbflow may have written."""
    for comment in pull.get_issue_comments():
        if comment.body.startswith(marker) and comment.user and comment.user.login in authors:
            return comment
    return None


class _Authors:
    """Who may have written a sticky comment: the GitHub Actions bot (GITHUB_TOKEN),
    or the user the token belongs to (``GET /user``, asked once, only when needed)."""

    def __init__(self, client: Github) -> None:
        self._client = client
        self._login: str | None = None
        self._asked = False

    def __contains__(self, login: object) -> bool:
        return login == ACTIONS_BOT or login == self._token_login()

    def _token_login(self) -> str | None:
        if not self._asked:
            self._login = self._ask()
            self._asked = True
        return self._login

    def _ask(self) -> str | None:
        try:
            login: str = self._client.get_user().login
            return login
        except GithubException as exc:
            # an installation token (GITHUB_TOKEN, an app's) may not read /user: it is
            # no user's, so only the bot's comments are its own
            if exc.status == 403 and rate_limit(exc, 0) is None:
                return None
            raise


# Bodies -----------------------------------------------------------------------------


def _body(
    settings: GitHubSettings,
    record: RunRecord,
    run_path: str,
    ref: str,
    *,
    before: str = "",
    after: str = "",
    changes: RunDiff | None = None,
) -> str:
    """The report with notebook links on ``ref``, cut to what GitHub accepts (pointing
    at the full report on ``ref`` when cut)."""

    def url(path: str) -> str:
        return settings.blob_url(ref, f"{run_path}/{path}")

    report = render_report(record, notebook_url=url)
    after = "\n\n".join(s for s in (after, render_notebook_changes(changes, url)) if s)
    body = (f"{before}\n" if before else "") + report + (f"\n{after}\n" if after else "")
    note = f"\n…\n\n_Cut to fit GitHub's limit: read the [full report]({url('README.md')})._\n"
    return cut_markdown(body, MAX_BODY_LENGTH - BODY_MARGIN, note)


# The client and its errors ----------------------------------------------------------


def _client(settings: GitHubSettings) -> Github:
    """PyGithub retrying nothing (:func:`_attempted` does), pacing as GitHub asks unless
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
class _Operation:
    """What was being done, to name it and suggest fixes when GitHub refuses."""

    description: str
    permission: Callable[[str], str]  # GitHub's 403 message → what to grant
    invalid_hints: Mapping[str, str]  # a 422 error's field → a hint
    missing: str = ""  # what a 404 may mean is missing, besides the repository


def _attempted(settings: GitHubSettings, operation: _Operation, attempt: Callable[[int], T]) -> T:
    """``attempt`` with retries, its failure translated into a GitHubError."""

    def failed(exc: Exception, tries: Tries) -> GitHubError:
        return _translated(exc, settings, operation, tries)

    return with_retries(settings.waits, attempt, failed)


def _translated(
    exc: Exception, settings: GitHubSettings, operation: _Operation, tries: Tries
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
    exc: GithubException, settings: GitHubSettings, operation: _Operation, tries: Tries
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
        return f"422 {_validation_message(exc.data, operation.invalid_hints)}"
    return f"{status} {message}"


def _validation_message(data: Any, hints: Mapping[str, str] | None = None) -> str:
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
