"""GitHub: pull requests and sticky comments carrying a run's report.

With :mod:`nbflow.github.calls` and :mod:`nbflow.github.retry`, the only modules
importing ``github`` (PyGithub). Settings and errors are :mod:`nbflow.github.settings`'s
(re-exported here); making a call, retrying it and translating its failure are
:mod:`nbflow.github.calls`'. Design decisions:

- The token lives in :class:`GitHubSettings` (left out of its repr) and PyGithub's
  auth only. Every message this module builds is redacted before it is raised or
  logged.
- PyGithub runs lazily: objects are built from URLs without a GET, so opening a pull
  request is one POST. Every ``GithubException`` is translated at this boundary into
  a :class:`GitHubError` naming the operation, GitHub's status and message, and a fix.
- Retries and waits are :mod:`nbflow.github.retry`'s: each operation is attempted
  whole again, looking first for what a failed attempt may have created. Every wait
  is at most a minute; beyond that the error says when to try again.
- A workflow's sticky comment is the first comment that starts with its marker and
  was written by the token's own user or the GitHub Actions bot: a comment anyone
  else starts with the marker is never edited.
- Notebook links in bodies point at a branch, so they work once the run is pushed
  there (commit-back pushes before the pull request is opened).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from github import Github, GithubException
from github.IssueComment import IssueComment
from github.PullRequest import PullRequest
from github.Repository import Repository

from nbflow.github.calls import Operation, attempted, github_client, validation_message
from nbflow.github.retry import Waits, rate_limit
from nbflow.github.settings import (
    DEFAULT_API_URL,
    GitHubError,
    GitHubSettings,
    GitHubSettingsError,
    github_settings,
)
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

ACTIONS_BOT = "github-actions[bot]"  # who comments with GitHub Actions' GITHUB_TOKEN
# GitHub rejects longer bodies; counted in UTF-16 code units (the most any count of
# GitHub's gives), with a margin for what GitHub may add (line ends, escapes)
MAX_BODY_LENGTH = 65_536
BODY_MARGIN = 536

_PERMISSION_SETTING = "Allow GitHub Actions to create and approve pull requests"


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
    operation = Operation(
        f"opening a pull request for {branch} in {settings.repository}",
        _pull_request_permission,
        {"head": f"is branch {branch} pushed to {settings.repository}?"},
    )
    repo = github_client(settings).get_repo(settings.repository)

    def attempt(number: int) -> PullRequestResult:
        # after a failed attempt the pull request may exist: GitHub can create it and
        # still fail to answer
        pull = _open_pull(repo, settings, branch) if number > 1 else None
        if pull is None:
            try:
                pull = repo.create_pull(base=base, head=branch, title=title, body=body)
                return PullRequestResult(pull.number, pull.html_url, created=True)
            except GithubException as exc:
                if exc.status != 422 or "already exists" not in validation_message(exc.data):
                    raise
                pull = _open_pull(repo, settings, branch) or _vanished(settings, branch)
        if (pull.title, pull.body) != (title, body):
            pull.edit(title=title, body=body)
        return PullRequestResult(pull.number, pull.html_url, created=False)

    result = attempted(settings, operation, attempt)
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
    operation = Operation(
        f"commenting on pull request #{pr_number} in {settings.repository}",
        lambda message: "give the workflow `permissions: pull-requests: write`",
        {},
        f"pull request #{pr_number} in {settings.repository}",
    )
    marker = comment_marker(record.workflow)
    client = github_client(settings)
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

    return attempted(settings, operation, attempt)


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
