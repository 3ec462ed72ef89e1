"""nbflow.github.client against a local stand-in for the GitHub API (tests/github_stub.py)."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
from pathlib import Path

import pytest
from github_stub import GitHubStub, comment_json, pull_json, user_json
from helpers import git, two_runs, write_manifest, write_notebook

from nbflow.cli import main
from nbflow.github.client import (
    MAX_BODY_LENGTH,
    GitHubError,
    GitHubSettings,
    Waits,
    comment_marker,
    github_settings,
    open_pull_request,
    upsert_comment,
)
from nbflow.report.markdown import utf16_length
from nbflow.report.run_report import render_report
from nbflow.run_record import RunRecord, RunStatus, StepError, StepRecord, StepStatus
from nbflow.store.runs import write_record

TOKEN = "ghp_s3cretTOKENvalue0123456789"
REPO = "octo/data"
RUN_ID = "2026-11-23T000000Z-ab12"
BRANCH = f"nbflow/finance-daily/{RUN_ID}"
RUN_PATH = f"runs/finance-daily/{RUN_ID}"
BLOB = f"https://github.com/{REPO}/blob/{BRANCH}/{RUN_PATH}"
START = "2026-11-23T00:00:00.000Z"
PULLS = f"/repos/{REPO}/pulls"
COMMENTS = f"/repos/{REPO}/issues/7/comments"


def step(step_id: str, outputs: dict[str, object], needs: tuple[str, ...] = ()) -> StepRecord:
    return StepRecord(
        step_id,
        status=StepStatus.SUCCEEDED,
        needs=needs,
        notebook=f"{step_id}.ipynb",
        start=START,
        end=START,
        duration=1.0,
        outputs=outputs,
    )


def run(run_id: str = RUN_ID, rows: int = 42, total: float = 10.5) -> RunRecord:
    return RunRecord(
        "finance-daily",
        run_id,
        RunStatus.SUCCEEDED,
        "schedule",
        START,
        end=START,
        duration=2.0,
        steps=(
            step("extract", {"rows": rows}),
            step("load", {"total": total, "table": "payments"}, needs=("extract",)),
        ),
    )


RESET = 1795392000  # 2026-11-23 00:00:00 UTC, when the stub's rate limits reset


class FakeClock:
    """Time that passes only when slept: the waits of a test, without spending them."""

    def __init__(self, now: float = RESET - 3600) -> None:
        self.now = now
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def waits(self, jitter: float = 1.0) -> Waits:
        return Waits(sleep=self.sleep, clock=self.time, jitter=lambda: jitter)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(github_stub: GitHubStub, clock: FakeClock) -> GitHubSettings:
    """Settings for the stub: no pauses between requests; retries on, with the fake clock."""
    return GitHubSettings(REPO, TOKEN, api_url=github_stub.url, throttle=False, waits=clock.waits())


def open_pr(settings: GitHubSettings, previous: RunRecord | None = None):  # type: ignore[no-untyped-def]
    return open_pull_request(
        settings, branch=BRANCH, base="main", record=run(), run_path=RUN_PATH, previous=previous
    )


def comment(settings: GitHubSettings, record: RunRecord | None = None):  # type: ignore[no-untyped-def]
    return upsert_comment(settings, pr_number=7, record=record or run(), run_path=RUN_PATH)


# Settings ---------------------------------------------------------------------------


def test_settings_from_github_actions_environment() -> None:
    env = {
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": "https://ghe.example.com/api/v3",
        "GITHUB_SERVER_URL": "https://ghe.example.com",
    }
    settings = github_settings(env, remote_url="git@github.com:someone/else.git")
    assert settings == GitHubSettings(
        REPO, TOKEN, "https://ghe.example.com/api/v3", "https://ghe.example.com", "GITHUB_TOKEN"
    )
    assert TOKEN not in repr(settings)


@pytest.mark.parametrize(
    ("remote", "repository", "api_url", "server_url"),
    [
        ("https://github.com/octo/data.git", REPO, "https://api.github.com", "https://github.com"),
        ("https://github.com/octo/data", REPO, "https://api.github.com", "https://github.com"),
        ("https://github.com/octo/data/", REPO, "https://api.github.com", "https://github.com"),
        (
            f"https://x-access-token:{TOKEN}@github.com/octo/data.git",
            REPO,
            "https://api.github.com",
            "https://github.com",
        ),
        ("git@github.com:octo/data.git", REPO, "https://api.github.com", "https://github.com"),
        ("git@github.com:octo/data", REPO, "https://api.github.com", "https://github.com"),
        (
            "ssh://git@github.com/octo/data.git",
            REPO,
            "https://api.github.com",
            "https://github.com",
        ),
        (
            "ssh://git@github.com:22/octo/my.repo",
            "octo/my.repo",
            "https://api.github.com",
            "https://github.com",
        ),
        (
            "https://ghe.example.com/octo/data.git",
            REPO,
            "https://ghe.example.com/api/v3",
            "https://ghe.example.com",
        ),
        (
            "git@ghe.example.com:octo/data.git",
            REPO,
            "https://ghe.example.com/api/v3",
            "https://ghe.example.com",
        ),
    ],
)
def test_settings_from_origin_url(
    remote: str, repository: str, api_url: str, server_url: str
) -> None:
    settings = github_settings({"GH_TOKEN": TOKEN}, remote_url=remote)
    assert (settings.repository, settings.api_url, settings.server_url) == (
        repository,
        api_url,
        server_url,
    )
    assert settings.token_variable == "GH_TOKEN"


@pytest.mark.parametrize(
    ("api_url", "server_url"),
    [
        ("https://git.corp/api/v3/", "https://git.corp"),
        ("https://api.octo.ghe.com", "https://octo.ghe.com"),
    ],
)
def test_api_url_variable_wins_over_remote_host(api_url: str, server_url: str) -> None:
    env = {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": api_url}
    settings = github_settings(env, remote_url="git@ghe.example.com:octo/data.git")
    assert (settings.api_url, settings.server_url) == (api_url.rstrip("/"), server_url)


@pytest.mark.parametrize(
    ("env", "remote", "message"),
    [
        (
            {"GITHUB_TOKEN": " ", "GITHUB_REPOSITORY": REPO},
            None,
            "no GitHub token: set GITHUB_TOKEN (or GH_TOKEN); in a GitHub Actions workflow add "
            "`env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}` to the step",
        ),
        (
            {"GITHUB_TOKEN": TOKEN},
            None,
            "cannot tell the GitHub repository: set GITHUB_REPOSITORY=OWNER/REPO "
            "or add an `origin` remote on GitHub",
        ),
        (
            {"GITHUB_TOKEN": TOKEN},
            f"https://user:{TOKEN}@example.com/just-a-path",
            "cannot tell the GitHub repository from the `origin` remote "
            "'https://example.com/just-a-path': set GITHUB_REPOSITORY=OWNER/REPO",
        ),
        (
            {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": "data"},
            None,
            "GITHUB_REPOSITORY='data': expected OWNER/REPO",
        ),
    ],
)
def test_settings_errors(env: dict[str, str], remote: str | None, message: str) -> None:
    with pytest.raises(GitHubError) as exc:
        github_settings(env, remote_url=remote)
    assert str(exc.value) == message
    assert exc.value.exit_code == 2  # invalid input: settings the user gives


# Pull requests ----------------------------------------------------------------------


def test_open_pull_request(github_stub: GitHubStub, settings: GitHubSettings) -> None:
    api = github_stub.url
    github_stub.reply("POST", PULLS, pull_json(api, REPO, 12, BRANCH), status=201)
    previous = run("2026-11-22T000000Z-0001", rows=40, total=10.5)

    result = open_pr(settings, previous)

    assert (result.number, result.url, result.created) == (
        12,
        f"https://github.com/{REPO}/pull/12",
        True,
    )
    assert github_stub.calls() == [("POST", PULLS)]
    request = github_stub.requests[0]
    assert request.headers["Authorization"] == f"token {TOKEN}"
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    body = request.body["body"]
    assert {k: v for k, v in request.body.items() if k != "body"} == {
        "title": f"finance-daily succeeded (2/2 steps) run {RUN_ID}",
        "head": BRANCH,
        "base": "main",
    }
    assert body.startswith(f"# ✅ finance-daily succeeded · run `{RUN_ID}`\n")
    assert "| step | status | attempts | duration | notebook |" in body
    for name in ("extract", "load"):
        link = f"[`{name}.ipynb`]({BLOB}/{name}.ipynb)"
        assert f"| `{name}` | ✅ succeeded | — | 1.0 s | {link} |" in body
    assert "```mermaid\n" in body
    assert body.endswith(
        "## Changes since the previous run\n\n"
        "Compared with run `2026-11-22T000000Z-0001` (succeeded):\n\n"
        "| step | output | before | after |\n"
        "| --- | --- | --- | --- |\n"
        "| `extract` | `rows` | `40` | `42` |\n"
    )


def test_open_pull_request_first_run(github_stub: GitHubStub, settings: GitHubSettings) -> None:
    github_stub.reply("POST", PULLS, pull_json(github_stub.url, REPO, 12, BRANCH), status=201)
    open_pr(settings, previous=None)
    assert (
        github_stub.requests[0]
        .body["body"]
        .endswith(
            "## Changes since the previous run\n\n"
            "First run of `finance-daily`: nothing to compare with.\n"
        )
    )


def test_the_pull_request_shows_what_changed_in_the_notebooks_after_the_outputs(
    github_stub: GitHubStub, settings: GitHubSettings, project: Path
) -> None:
    from nbflow.report.notebook_changes import diff_with_previous
    from nbflow.store.runs import read_record

    a, b = two_runs(project, "2", "3")
    changes = diff_with_previous(project / "runs", b, read_record(b))
    github_stub.reply("POST", PULLS, pull_json(github_stub.url, REPO, 12, BRANCH), status=201)
    open_pull_request(
        settings,
        branch=BRANCH,
        base="main",
        record=read_record(b),
        run_path=RUN_PATH,
        previous=read_record(a),
        notebook_changes=changes,
    )
    body = github_stub.requests[0].body["body"]
    outputs, _, notebooks = body.partition("## What changed in the notebooks\n\n")
    assert "## Changes since the previous run" in outputs
    assert notebooks.startswith(
        f"Compared with run `{a.name}`: 1 of 2 notebooks changed.\n\n"
        f"**[`fit.ipynb`]({BLOB}/fit.ipynb)** (`fit`): 3 cells changed\n\n"
        "parameters: values changed\n```diff\n- n = 2\n+ n = 3\n```"
    )


def test_open_pull_request_updates_the_one_already_open(
    github_stub: GitHubStub, settings: GitHubSettings
) -> None:
    api = github_stub.url
    exists = {
        "message": "Validation Failed",
        "errors": [
            {
                "resource": "PullRequest",
                "code": "custom",
                "message": f"A pull request already exists for octo:{BRANCH}.",
            }
        ],
        "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
    }
    github_stub.reply("POST", PULLS, exists, status=422)
    github_stub.reply("GET", PULLS, [pull_json(api, REPO, 9, BRANCH)])
    github_stub.reply("PATCH", f"{PULLS}/9", pull_json(api, REPO, 9, BRANCH))

    result = open_pr(settings)

    assert (result.number, result.url, result.created) == (
        9,
        f"https://github.com/{REPO}/pull/9",
        False,
    )
    assert github_stub.calls() == [
        ("POST", PULLS),
        ("GET", f"{PULLS}?head=octo:{BRANCH}&per_page=100&state=open"),
        ("PATCH", f"{PULLS}/9"),
    ]
    created, _, patched = github_stub.requests
    assert patched.body == {"title": created.body["title"], "body": created.body["body"]}


def test_an_open_pull_request_whose_report_differs_is_edited(
    github_stub: GitHubStub, settings: GitHubSettings
) -> None:
    """The run committed again (a later attempt under the same id): the pull request
    open for its branch carries the earlier attempt's report, which differs at its
    end; any difference in title or body is edited, whichever sorts first."""
    api = github_stub.url
    github_stub.reply("POST", PULLS, pull_json(api, REPO, 9, BRANCH), status=201)
    open_pr(settings)
    title, body = (github_stub.requests[0].body[k] for k in ("title", "body"))
    exists = {
        "message": "Validation Failed",
        "errors": [{"message": f"A pull request already exists for octo:{BRANCH}."}],
    }
    earlier = pull_json(api, REPO, 9, BRANCH) | {"title": title, "body": f"{body}\nretried"}
    github_stub.reply("POST", PULLS, exists, status=422)
    github_stub.reply("GET", PULLS, [earlier])
    github_stub.reply("PATCH", f"{PULLS}/9", pull_json(api, REPO, 9, BRANCH))

    assert open_pr(settings).created is False

    assert github_stub.calls()[-1] == ("PATCH", f"{PULLS}/9")
    assert github_stub.requests[-1].body == {"title": title, "body": body}


def test_pull_request_created_though_github_answered_502_is_not_created_again(
    github_stub: GitHubStub, settings: GitHubSettings, clock: FakeClock
) -> None:
    """GitHub opened the pull request but answered 502: the next attempt finds it (the
    open pull request for the branch) instead of posting again, and leaves it as it
    is when it holds the report already."""
    api = github_stub.url
    github_stub.reply("POST", PULLS, pull_json(api, REPO, 12, BRANCH), status=201)
    open_pr(settings)
    posted = github_stub.requests[0].body  # what GitHub stores when it creates it
    opened = {**pull_json(api, REPO, 12, BRANCH), "title": posted["title"], "body": posted["body"]}
    github_stub.reply("POST", PULLS, {"message": "Server Error"}, status=502)
    github_stub.reply("GET", PULLS, [])  # not created by that attempt
    github_stub.reply("POST", PULLS, {"message": "Server Error"}, status=502)
    github_stub.reply("GET", PULLS, [opened])  # created by this one

    result = open_pr(settings)

    assert (result.number, result.url, result.created) == (
        12,
        f"https://github.com/{REPO}/pull/12",
        False,
    )
    listed = ("GET", f"{PULLS}?head=octo:{BRANCH}&per_page=100&state=open")
    assert github_stub.calls()[1:] == [("POST", PULLS), listed, ("POST", PULLS), listed]
    assert github_stub.requests[3].body == posted
    assert clock.slept == [2.0, 4.0]


def test_long_report_is_cut_at_a_block_boundary_counting_utf16(
    github_stub: GitHubStub, settings: GitHubSettings
) -> None:
    """A traceback of emoji: fewer code points than GitHub's 65,536 but more UTF-16
    code units. The body is cut between two of its lines, its fence and <details>
    closed, and ends with a link to the full report."""
    github_stub.reply("POST", PULLS, pull_json(github_stub.url, REPO, 12, BRANCH), status=201)
    frames = "\n".join(f"{'🐍' * 20} frame {i:04d}" for i in range(1900))
    error = StepError("ValueError", "boom", cell=1, traceback=frames)
    failed = StepRecord("load", status=StepStatus.FAILED, notebook="load.ipynb", error=error)
    record = RunRecord("finance-daily", RUN_ID, RunStatus.FAILED, "manual", START, steps=(failed,))

    open_pull_request(
        settings, branch=BRANCH, base="main", record=record, run_path=RUN_PATH, previous=None
    )

    whole = render_report(record)
    assert len(whole) < MAX_BODY_LENGTH < utf16_length(whole)  # in code points, in UTF-16
    body = github_stub.requests[0].body["body"]
    assert MAX_BODY_LENGTH - 1_000 < utf16_length(body) <= MAX_BODY_LENGTH - 536
    kept, closing = body.split("\n```\n\n</details>\n\n…\n\n")
    assert closing == f"_Cut to fit GitHub's limit: read the [full report]({BLOB}/README.md)._\n"
    assert re.fullmatch("🐍{20} frame [0-9]{4}", kept.rsplit("\n", 1)[1])
    assert "<details>\n<summary>Traceback</summary>\n\n```text\n" + "🐍" * 20 in kept


# Sticky comments --------------------------------------------------------------------


def test_comment_is_created_then_updated_in_place(
    github_stub: GitHubStub, settings: GitHubSettings
) -> None:
    api = github_stub.url
    other = comment_json(api, REPO, 7, 100, "LGTM")
    github_stub.reply("GET", f"{PULLS}/7", pull_json(api, REPO, 7, "feature/x"))
    github_stub.reply("GET", COMMENTS, [other])
    github_stub.reply("POST", COMMENTS, comment_json(api, REPO, 7, 101, "posted"), status=201)

    first = comment(settings)

    assert (first.id, first.url, first.created) == (
        101,
        f"https://github.com/{REPO}/pull/7#issuecomment-101",
        True,
    )
    posted = github_stub.requests[-1].body["body"]
    assert posted.startswith(
        "<!-- nbflow:report workflow=finance-daily -->\n"
        f"# ✅ finance-daily succeeded · run `{RUN_ID}`\n"
    )
    blob = f"https://github.com/{REPO}/blob/feature/x/{RUN_PATH}"
    assert f"[`extract.ipynb`]({blob}/extract.ipynb)" in posted

    github_stub.reply("GET", f"{PULLS}/7", pull_json(api, REPO, 7, "feature/x"))
    github_stub.reply("GET", COMMENTS, [other, comment_json(api, REPO, 7, 101, posted)])
    github_stub.reply(
        "PATCH", f"/repos/{REPO}/issues/comments/101", comment_json(api, REPO, 7, 101, "patched")
    )

    second = comment(settings, run("2026-11-24T000000Z-cd34"))

    assert (second.id, second.url, second.created) == (first.id, first.url, False)
    assert github_stub.calls() == [
        ("GET", f"{PULLS}/7"),
        ("GET", f"{COMMENTS}?per_page=100"),
        ("POST", COMMENTS),
        ("GET", f"{PULLS}/7"),
        ("GET", f"{COMMENTS}?per_page=100"),
        ("PATCH", f"/repos/{REPO}/issues/comments/101"),
    ]
    assert "run `2026-11-24T000000Z-cd34`" in github_stub.requests[-1].body["body"]


def test_comment_found_on_a_later_page(github_stub: GitHubStub, settings: GitHubSettings) -> None:
    api = github_stub.url
    marker = comment_marker("finance-daily")
    page2 = f"{api}{COMMENTS}?per_page=100&page=2"
    page3 = f"{api}{COMMENTS}?per_page=100&page=3"
    github_stub.reply("GET", f"{PULLS}/7", pull_json(api, REPO, 7, "feature/x"))
    github_stub.reply(
        "GET",
        f"{COMMENTS}?per_page=100",
        [comment_json(api, REPO, 7, 1, "first"), comment_json(api, REPO, 7, 2, "second")],
        headers={"Link": f'<{page2}>; rel="next", <{page3}>; rel="last"'},
    )
    github_stub.reply(
        "GET",
        f"{COMMENTS}?page=2&per_page=100",
        [
            comment_json(api, REPO, 7, 3, f"{comment_marker('finance')}\nanother workflow"),
            comment_json(api, REPO, 7, 4, f"{marker}\nan older report"),
        ],
        headers={"Link": f'<{page3}>; rel="next", <{page3}>; rel="last"'},
    )
    github_stub.reply(
        "PATCH", f"/repos/{REPO}/issues/comments/4", comment_json(api, REPO, 7, 4, "patched")
    )

    result = comment(settings)

    assert (result.id, result.created) == (4, False)
    assert github_stub.calls() == [  # page 3 is never fetched: the comment was found
        ("GET", f"{PULLS}/7"),
        ("GET", f"{COMMENTS}?per_page=100"),
        ("GET", f"{COMMENTS}?page=2&per_page=100"),
        ("PATCH", f"/repos/{REPO}/issues/comments/4"),
    ]


def test_unchanged_comment_is_not_edited(
    github_stub: GitHubStub, settings: GitHubSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="nbflow.github.client")
    api = github_stub.url
    github_stub.reply("GET", f"{PULLS}/7", pull_json(api, REPO, 7, "feature/x"))
    github_stub.reply("GET", COMMENTS, [])
    github_stub.reply("POST", COMMENTS, comment_json(api, REPO, 7, 101, "x"), status=201)
    comment(settings)
    posted = github_stub.requests[-1].body["body"]
    github_stub.reply("GET", f"{PULLS}/7", pull_json(api, REPO, 7, "feature/x"))
    github_stub.reply("GET", COMMENTS, [comment_json(api, REPO, 7, 101, posted)])

    assert comment(settings).id == 101
    assert [method for method, _ in github_stub.calls()] == ["GET", "GET", "POST", "GET", "GET"]
    assert (
        caplog.messages[-1]
        == f"unchanged comment https://github.com/{REPO}/pull/7#issuecomment-101"
    )


USER = "/user"
INTEGRATION = {  # GET /user with GITHUB_TOKEN, an installation token
    "message": "Resource not accessible by integration",
    "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user",
    "status": "403",
}


@pytest.mark.parametrize(
    ("user_status", "user_body"),
    [(200, user_json("octo-bot")), (403, INTEGRATION)],
    ids=["personal-token", "github-token"],
)
# logins sorting before and after github-actions[bot]: the bot is matched exactly
@pytest.mark.parametrize("author", ["alice", "mallory"])
def test_comment_starting_with_the_marker_by_someone_else_is_not_edited(
    github_stub: GitHubStub,
    settings: GitHubSettings,
    user_status: int,
    user_body: object,
    author: str,
) -> None:
    """Only the token's own user (GET /user) or the Actions bot wrote nbflow's comment."""
    api = github_stub.url
    marker = comment_marker("finance-daily")
    theirs = comment_json(api, REPO, 7, 100, f"{marker}\nnot yours", author=author)
    github_stub.reply("GET", f"{PULLS}/7", pull_json(api, REPO, 7, "feature/x"))
    github_stub.reply("GET", COMMENTS, [theirs])
    github_stub.reply("GET", USER, user_body, status=user_status)
    github_stub.reply("POST", COMMENTS, comment_json(api, REPO, 7, 101, "posted"), status=201)

    result = comment(settings)

    assert (result.id, result.created) == (101, True)
    assert github_stub.calls() == [
        ("GET", f"{PULLS}/7"),
        ("GET", f"{COMMENTS}?per_page=100"),
        ("GET", USER),
        ("POST", COMMENTS),
    ]


def test_comment_of_the_tokens_own_user_is_edited(
    github_stub: GitHubStub, settings: GitHubSettings
) -> None:
    api = github_stub.url
    marker = comment_marker("finance-daily")
    github_stub.reply("GET", f"{PULLS}/7", pull_json(api, REPO, 7, "feature/x"))
    github_stub.reply(
        "GET",
        COMMENTS,
        [
            comment_json(api, REPO, 7, 100, f"{marker}\nold", author="mallory"),
            comment_json(api, REPO, 7, 102, f"{marker}\nold", author="octo-bot"),
        ],
    )
    github_stub.reply("GET", USER, user_json("octo-bot"))  # asked once for both
    github_stub.reply(
        "PATCH", f"/repos/{REPO}/issues/comments/102", comment_json(api, REPO, 7, 102, "new")
    )

    assert comment(settings).id == 102
    assert github_stub.calls()[-2:] == [
        ("GET", USER),
        ("PATCH", f"/repos/{REPO}/issues/comments/102"),
    ]


@pytest.mark.parametrize("status", [401, 404])
def test_a_user_lookup_refused_for_another_reason_than_an_installation_token_fails(
    github_stub: GitHubStub, settings: GitHubSettings, status: int
) -> None:
    """Only a 403 (an installation token, which is no user's) means "only the bot's
    comments are ours"; a 401 or a 404 on GET /user (a token revoked meanwhile) is an
    error, not a reason to post a second comment."""
    api = github_stub.url
    marker = comment_marker("finance-daily")
    theirs = comment_json(api, REPO, 7, 100, f"{marker}\nold", author="octo-bot")
    github_stub.reply("GET", f"{PULLS}/7", pull_json(api, REPO, 7, "feature/x"))
    github_stub.reply("GET", COMMENTS, [theirs])
    github_stub.reply("GET", USER, {"message": "Bad credentials"}, status=status)

    with pytest.raises(GitHubError) as exc:
        comment(settings)

    assert exc.value.status == status
    assert ("POST", COMMENTS) not in github_stub.calls()


def test_marker_elsewhere_than_at_the_start_is_not_the_sticky_comment(
    github_stub: GitHubStub, settings: GitHubSettings
) -> None:
    api = github_stub.url
    quoted = f"The report said:\n\n> {comment_marker('finance-daily')}\n> # ✅ finance-daily"
    github_stub.reply("GET", f"{PULLS}/7", pull_json(api, REPO, 7, "feature/x"))
    github_stub.reply("GET", COMMENTS, [comment_json(api, REPO, 7, 100, quoted)])
    github_stub.reply("POST", COMMENTS, comment_json(api, REPO, 7, 101, "posted"), status=201)

    assert (comment(settings).id, github_stub.calls()[-1]) == (101, ("POST", COMMENTS))


def test_comment_created_though_github_answered_502_is_not_posted_twice(
    github_stub: GitHubStub, settings: GitHubSettings, clock: FakeClock
) -> None:
    """GitHub stored the comment but answered 502: the retry finds it by its marker
    (unchanged, so not edited either) instead of posting a second one that later runs
    would never update."""
    api = github_stub.url
    github_stub.reply("GET", f"{PULLS}/7", pull_json(api, REPO, 7, "feature/x"))
    github_stub.reply("GET", COMMENTS, [])
    github_stub.reply("POST", COMMENTS, comment_json(api, REPO, 7, 101, "x"), status=201)
    comment(settings)
    stored = comment_json(api, REPO, 7, 101, github_stub.requests[-1].body["body"])
    github_stub.reply("GET", f"{PULLS}/7", pull_json(api, REPO, 7, "feature/x"))
    github_stub.reply("GET", COMMENTS, [])
    github_stub.reply("POST", COMMENTS, {"message": "Server Error"}, status=502)
    github_stub.reply("GET", f"{PULLS}/7", pull_json(api, REPO, 7, "feature/x"))
    github_stub.reply("GET", COMMENTS, [stored])

    result = comment(settings)

    assert (result.id, result.created) == (101, False)
    assert github_stub.calls()[3:] == [
        ("GET", f"{PULLS}/7"),
        ("GET", f"{COMMENTS}?per_page=100"),
        ("POST", COMMENTS),
        ("GET", f"{PULLS}/7"),
        ("GET", f"{COMMENTS}?per_page=100"),
    ]
    assert clock.slept == [2.0]


# Errors -----------------------------------------------------------------------------

OPENING = f"opening a pull request for {BRANCH} in {REPO}: GitHub answered "
COMMENTING = f"commenting on pull request #7 in {REPO}: GitHub answered "
DOCS = {"documentation_url": "https://docs.github.com/rest"}
SECONDARY = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)


def assert_error(exc: pytest.ExceptionInfo[GitHubError], message: str, status: int | None) -> None:
    assert str(exc.value) == message
    assert (exc.value.status, exc.value.exit_code) == (status, 1)
    assert TOKEN not in str(exc.value) and TOKEN not in repr(exc.value)


@pytest.mark.parametrize(
    ("status", "body", "headers", "message"),
    [
        (
            401,
            {"message": "Bad credentials", **DOCS},
            {},
            "401 Bad credentials: the token in GITHUB_TOKEN is wrong or expired; set a valid one",
        ),
        (
            403,
            {"message": "Resource not accessible by integration", **DOCS},
            {},
            "403 Resource not accessible by integration: the token in GITHUB_TOKEN lacks "
            "permission; give the workflow `permissions: pull-requests: write` and "
            "`contents: write`; from GitHub Actions also enable the repository setting "
            '"Allow GitHub Actions to create and approve pull requests"',
        ),
        (
            403,
            {
                "message": "GitHub Actions is not permitted to create or approve pull requests.",
                **DOCS,
            },
            {},
            "403 GitHub Actions is not permitted to create or approve pull requests: the token "
            'in GITHUB_TOKEN lacks permission; enable the repository setting "Allow GitHub '
            'Actions to create and approve pull requests" (Settings → Actions → General → '
            "Workflow permissions)",
        ),
        (
            403,
            {"message": f"API rate limit exceeded for installation ID 1. {TOKEN}", **DOCS},
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(RESET)},
            "403 API rate limit exceeded for installation ID 1. ***: rate limit exceeded; "
            "it resets at 2026-11-23 00:00:00 UTC: longer than nbflow waits (60 s); "
            "run the command again then",
        ),
        (
            429,
            {"message": SECONDARY, **DOCS},
            {"Retry-After": "3600"},
            f"429 {SECONDARY[:-1]}: rate limit exceeded; GitHub asks to wait 3600 s, until "
            "2026-11-23 00:00:00 UTC: longer than nbflow waits (60 s); run the command again then",
        ),
        (
            403,
            {"message": SECONDARY, **DOCS},
            {"Retry-After": "61"},
            f"403 {SECONDARY[:-1]}: rate limit exceeded; GitHub asks to wait 61 s, until "
            "2026-11-22 23:01:01 UTC: longer than nbflow waits (60 s); run the command again then",
        ),
        (
            503,
            {"message": "Service Unavailable"},
            {"Retry-After": "Mon, 23 Nov 2026 00:30:00 GMT"},
            "503 Service Unavailable: GitHub failed to carry out the request; GitHub asks to "
            "wait 5400 s, until 2026-11-23 00:30:00 UTC: longer than nbflow waits (60 s); "
            "run the command again then",
        ),
        (
            404,
            {"message": "Not Found", **DOCS},
            {},
            f"404 Not Found: repository {REPO} not found, or the token in GITHUB_TOKEN has no "
            "access to it",
        ),
        (
            422,
            {
                "message": "Validation Failed",
                "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
                **DOCS,
            },
            {},
            f"422 Validation Failed; head invalid (is branch {BRANCH} pushed to {REPO}?)",
        ),
        (
            422,
            {
                "message": "Validation Failed",
                "errors": [
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"No commits between main and {BRANCH}",
                    }
                ],
                **DOCS,
            },
            {},
            f"422 Validation Failed; No commits between main and {BRANCH}",
        ),
    ],
    ids=[
        "401",
        "403",
        "403-actions-setting",
        "403-rate-limit-reset-in-an-hour",
        "429-retry-after-an-hour",
        "403-retry-after-61s",
        "503-retry-after-http-date",
        "404",
        "422-head",
        "422-no-commits",
    ],
)
def test_pull_request_errors(
    github_stub: GitHubStub,
    settings: GitHubSettings,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    status: int,
    body: dict[str, object],
    headers: dict[str, str],
    message: str,
) -> None:
    """Refusals fail at once, and so does any wait over a minute, whatever asks for it."""
    caplog.set_level(logging.DEBUG)
    github_stub.reply("POST", PULLS, body, status=status, headers=headers)
    with pytest.raises(GitHubError) as exc:
        open_pr(settings)
    assert_error(exc, OPENING + message, status)
    assert TOKEN not in caplog.text
    assert (github_stub.calls(), clock.slept) == ([("POST", PULLS)], [])


@pytest.mark.parametrize(
    ("status", "message", "headers", "waited"),
    [
        (429, SECONDARY, {"Retry-After": "30"}, 30.0),
        (403, SECONDARY, {}, 60.0),  # no header: GitHub says to wait a minute
        (
            403,
            "API rate limit exceeded for user ID 1.",
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(RESET - 3600 + 20)},
            21.0,  # a second more: when in that second the limit resets is not said
        ),
    ],
    ids=["retry-after", "secondary", "reset"],
)
def test_rate_limit_under_a_minute_is_waited_for(
    github_stub: GitHubStub,
    settings: GitHubSettings,
    clock: FakeClock,
    status: int,
    message: str,
    headers: dict[str, str],
    waited: float,
) -> None:
    api = github_stub.url
    github_stub.reply("POST", PULLS, {"message": message, **DOCS}, status=status, headers=headers)
    github_stub.reply("GET", PULLS, [])
    github_stub.reply("POST", PULLS, pull_json(api, REPO, 12, BRANCH), status=201)

    assert open_pr(settings).number == 12
    assert clock.slept == [waited]
    assert [method for method, _ in github_stub.calls()] == ["POST", "GET", "POST"]


@pytest.mark.parametrize(("jitter", "waits"), [(1.0, [2.0, 4.0]), (0.0, [1.0, 2.0])])
def test_server_errors_back_off_then_fail_naming_the_attempts(
    github_stub: GitHubStub, clock: FakeClock, jitter: float, waits: list[float]
) -> None:
    """Waits double from 2 s, jittered down to half; three attempts, then GitHub's answer."""
    for answer in (502, 502, 502):
        github_stub.reply("POST", PULLS, {"message": "Server Error"}, status=answer)
        if len(github_stub.unused) < 5:
            github_stub.reply("GET", PULLS, [])
    settings = GitHubSettings(
        REPO, TOKEN, api_url=github_stub.url, throttle=False, waits=clock.waits(jitter)
    )

    with pytest.raises(GitHubError) as exc:
        open_pr(settings)

    assert clock.slept == waits
    assert_error(
        exc,
        OPENING
        + f"502 Server Error (3 attempts over {sum(waits):.0f} s): GitHub failed to carry out "
        "the request; run the command again later (https://www.githubstatus.com shows "
        "GitHub's incidents)",
        502,
    )
    assert [method for method, _ in github_stub.calls()] == ["POST", "GET", "POST", "GET", "POST"]


def test_comment_errors_name_the_pull_request_and_permission(
    github_stub: GitHubStub, settings: GitHubSettings
) -> None:
    github_stub.reply("GET", f"{PULLS}/7", {"message": "Not Found", **DOCS}, status=404)
    with pytest.raises(GitHubError) as exc:
        comment(settings)
    assert_error(
        exc,
        COMMENTING
        + (
            f"404 Not Found: pull request #7 in {REPO} or repository {REPO} not found, "
            "or the token in GITHUB_TOKEN has no access to it"
        ),
        404,
    )

    github_stub.reply("GET", f"{PULLS}/7", pull_json(github_stub.url, REPO, 7, "feature/x"))
    github_stub.reply("GET", COMMENTS, [])
    github_stub.reply(
        "POST", COMMENTS, {"message": "Resource not accessible by integration"}, status=403
    )
    with pytest.raises(GitHubError) as exc:
        comment(settings)
    assert_error(
        exc,
        COMMENTING
        + (
            "403 Resource not accessible by integration: the token in GITHUB_TOKEN lacks "
            "permission; give the workflow `permissions: pull-requests: write`"
        ),
        403,
    )


@pytest.mark.parametrize("verbosity", [0, 1])
def test_retries_are_logged_once_and_only_with_v(
    github_stub: GitHubStub,
    settings: GitHubSettings,
    capsys: pytest.CaptureFixture[str],
    verbosity: int,
) -> None:
    from nbflow.cli.console import setup_logging

    setup_logging(verbosity)
    github_stub.reply("POST", PULLS, {"message": "Server Error"}, status=502)
    github_stub.reply("GET", PULLS, [])
    github_stub.reply("POST", PULLS, pull_json(github_stub.url, REPO, 12, BRANCH), status=201)

    open_pr(settings)

    assert capsys.readouterr().err == (
        "INFO nbflow.github.retry: GitHub answered 502; attempt 2 of 3 in 2.0 s\n"
        f"INFO nbflow.github.client: opened pull request https://github.com/{REPO}/pull/12\n"
        if verbosity
        else ""
    )


def test_unreachable_api(clock: FakeClock) -> None:
    with socket.socket() as free:  # bound, never listening: connections are refused
        free.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{free.getsockname()[1]}"
        offline = GitHubSettings(REPO, TOKEN, api_url=url, throttle=False, waits=clock.waits())
        with pytest.raises(GitHubError) as exc:
            open_pr(offline)
    message = str(exc.value)
    assert message.startswith(
        f"{OPENING.split(': GitHub')[0]}: cannot reach {url} (3 attempts over 6 s): "
    )
    assert message.endswith("; check the network, and GITHUB_API_URL when set")
    assert "Connection refused" in message
    assert TOKEN not in message
    assert clock.slept == [2.0, 4.0]


# The command ------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, github_stub: GitHubStub) -> Path:
    """A Git work tree with two runs of two workflows, and GitHub settings for the stub."""
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "nbflow.yaml").write_text("{}\n")
    write_record(root / RUN_PATH, run())
    older = run("2026-11-22T000000Z-0001")
    write_record(
        root / f"runs/other/{older.run_id}",
        RunRecord("other", older.run_id, RunStatus.SUCCEEDED, "manual", START),
    )
    monkeypatch.chdir(root)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GITHUB_API_URL", github_stub.url)
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    return root


def test_comment_command_posts_the_latest_run(
    project: Path, github_stub: GitHubStub, capsys: pytest.CaptureFixture[str]
) -> None:
    api = github_stub.url
    github_stub.reply("GET", f"{PULLS}/7", pull_json(api, REPO, 7, "feature/x"))
    github_stub.reply("GET", COMMENTS, [])
    github_stub.reply("POST", COMMENTS, comment_json(api, REPO, 7, 101, "x"), status=201)

    assert main(["comment", "--pr", "7"]) == 0

    assert capsys.readouterr().out == f"https://github.com/{REPO}/pull/7#issuecomment-101\n"
    body = github_stub.requests[-1].body["body"]
    assert f"run `{RUN_ID}`" in body
    assert f"(https://github.com/{REPO}/blob/feature/x/{RUN_PATH}/extract.ipynb)" in body


def test_comment_command_error(
    project: Path, github_stub: GitHubStub, capsys: pytest.CaptureFixture[str]
) -> None:
    github_stub.reply("GET", f"{PULLS}/7", {"message": "Bad credentials"}, status=401)

    assert main(["comment", "--pr", "7", "--workflow", "other"]) == 1

    assert capsys.readouterr().err == (
        f"error: {COMMENTING}401 Bad credentials: the token in GITHUB_TOKEN is wrong or "
        "expired; set a valid one\n"
    )


def test_comment_command_without_runs(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["comment", "--pr", "7", "--workflow", "missing"]) == 2
    assert capsys.readouterr().err == (
        f"error: no runs of missing under {project / 'runs'}; "
        "start one with `nbflow run WORKFLOW`\n"
    )


@pytest.fixture
def demo_repo(git_repo: Path, github_stub: GitHubStub, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``git_repo`` with a one-step workflow ``demo`` committed, made the current folder,
    and GitHub settings (a token among them) for the stub."""
    folder = git_repo / "workflows" / "demo"
    write_notebook(folder / "only.ipynb", "n = 1", ["import nbflow\nnbflow.record('n', n)"])
    write_manifest(folder, "name: demo\nsteps:\n  - {id: only, notebook: only.ipynb}\n")
    git(git_repo, "add", "workflows")
    git(git_repo, "commit", "-q", "-m", "add demo")
    git(git_repo, "push", "-q")  # --push publishes the run only, never unpushed commits
    for name, value in {
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_API_URL": github_stub.url,
        "GITHUB_SERVER_URL": "https://github.com",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_REF_NAME", raising=False)
    monkeypatch.chdir(git_repo)
    return git_repo


def remote_heads(repo: Path) -> list[str]:
    return [
        line.split("\t")[1] for line in git(repo, "ls-remote", "--heads", "origin").splitlines()
    ]


def test_run_with_target_pr_pushes_a_branch_and_opens_a_pull_request(
    demo_repo: Path, github_stub: GitHubStub
) -> None:
    github_stub.reply("POST", PULLS, pull_json(github_stub.url, REPO, 3, "x"), status=201)

    assert main(["run", "demo", "--target", "pr"]) == 0

    run_id = next((demo_repo / "runs" / "demo").glob("20*")).name
    branch = f"nbflow/demo/{run_id}"
    assert remote_heads(demo_repo) == ["refs/heads/main", f"refs/heads/{branch}"]
    assert git(demo_repo, "branch", "--show-current") == "main"
    assert github_stub.calls() == [("POST", PULLS)]
    request = github_stub.requests[0].body
    assert (request["head"], request["base"]) == (branch, "main")
    assert request["title"] == f"demo succeeded (1/1 steps) run {run_id}"
    assert request["body"].startswith(f"# ✅ demo succeeded · run `{run_id}`\n")
    blob = f"https://github.com/{REPO}/blob/{branch}/runs/demo/{run_id}/only.ipynb"
    assert f"[`only.ipynb`]({blob})" in request["body"]


@pytest.mark.parametrize(
    ("unset", "message"),
    [
        (
            "GITHUB_TOKEN",
            "no GitHub token: set GITHUB_TOKEN (or GH_TOKEN); in a GitHub Actions workflow add "
            "`env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}` to the step",
        ),
        (
            "GITHUB_REPOSITORY",
            "cannot tell the GitHub repository from the `origin` remote '{origin}': "
            "set GITHUB_REPOSITORY=OWNER/REPO",
        ),
    ],
)
def test_target_pr_without_settings_fails_before_running(
    demo_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    unset: str,
    message: str,
) -> None:
    """Nothing runs, nothing is committed or pushed: no branch is left without its PR."""
    monkeypatch.delenv(unset)
    head = git(demo_repo, "rev-parse", "HEAD")

    assert main(["run", "demo", "--target", "pr"]) == 2  # invalid input: missing GitHub settings

    origin = git(demo_repo, "remote", "get-url", "origin")
    assert capsys.readouterr().err == f"error: {message.replace('{origin}', origin)}\n"
    assert not (demo_repo / "runs").exists()
    assert git(demo_repo, "rev-parse", "HEAD") == head
    assert git(demo_repo, "branch", "--list", "nbflow/*") == ""
    assert remote_heads(demo_repo) == ["refs/heads/main"]


def test_commit_target_pr_opens_the_pull_request_of_a_pushed_branch(
    demo_repo: Path, github_stub: GitHubStub, capsys: pytest.CaptureFixture[str]
) -> None:
    """The recovery when the pull request failed after the push: `nbflow commit RUN
    --target pr` keeps the pushed branch as it is and opens its pull request."""
    refused = {"message": "Resource not accessible by integration", **DOCS}
    github_stub.reply("POST", PULLS, refused, status=403)
    assert main(["run", "demo", "--target", "pr"]) == 1
    run_id = next((demo_repo / "runs" / "demo").glob("20*")).name
    branch = f"nbflow/demo/{run_id}"
    pushed = git(demo_repo, "rev-parse", f"origin/{branch}")
    capsys.readouterr()
    github_stub.reply("POST", PULLS, pull_json(github_stub.url, REPO, 3, branch), status=201)

    assert main(["commit", run_id, "--target", "pr"]) == 0

    assert capsys.readouterr().err == (
        f"committed and pushed: {pushed[:12]} on {branch}\n"
        f"pull request: https://github.com/{REPO}/pull/3\n"
    )
    assert git(demo_repo, "rev-parse", branch) == pushed
    assert git(demo_repo, "rev-parse", f"origin/{branch}") == pushed
    first, second = (request.body for request in github_stub.requests)
    assert second == first
    assert (second["head"], second["base"]) == (branch, "main")
