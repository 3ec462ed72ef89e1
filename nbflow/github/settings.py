"""Where and as whom nbflow calls the GitHub API (:class:`GitHubSettings`), and the
errors of a call (:class:`GitHubError`).

Settings come from what GitHub Actions sets (``GITHUB_TOKEN``, ``GITHUB_REPOSITORY``,
``GITHUB_API_URL``, ``GITHUB_SERVER_URL``); outside Actions the repository and host
come from the ``origin`` remote URL, and a remote on a host other than github.com
means GitHub Enterprise at ``HOST/api/v3``. The token is left out of the settings'
repr, and a remote URL loses its user-info before it is shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from nbflow.errors import NbflowError
from nbflow.github.retry import Waits

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_SERVER_URL = "https://github.com"
TOKEN_VARIABLES = ("GITHUB_TOKEN", "GH_TOKEN")
# https://host/owner/repo(.git), ssh://git@host:22/owner/repo, git@host:owner/repo.git
_REMOTE = re.compile(
    r"^(?:[a-z+]+://(?:[^@/]+@)?(?P<host>[^/:]+)(?::\d+)?/|(?:[^@/:]+@)?(?P<scp_host>[^/:]+):)"
    r"(?P<repository>[\w.-]+/[\w.-]+?)(?:\.git)?/?$"
)
_REPOSITORY = re.compile(r"^[\w.-]+/[\w.-]+$")


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
