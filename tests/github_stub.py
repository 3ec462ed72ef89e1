"""A local HTTP server standing in for the GitHub REST API in tests.

It answers from a script of replies, each for one method and path and used once in
the order given, and records every request. A request nothing was scripted for gets
a 599 naming it, so a test fails with a clear message. Every answer carries the
headers GitHub sends (:data:`GITHUB_HEADERS`: rate-limit counters, request id, API
version) unless the reply overrides them. Builders give the fields PyGithub reads;
URLs in them point back at the stub so PyGithub follows them here.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# What api.github.com sends with every answer (besides Date, ETag, caching headers)
GITHUB_HEADERS = {
    "X-GitHub-Api-Version-Selected": "2022-11-28",
    "X-RateLimit-Limit": "5000",
    "X-RateLimit-Remaining": "4987",
    "X-RateLimit-Reset": "1795392000",
    "X-RateLimit-Used": "13",
    "X-RateLimit-Resource": "core",
    "X-GitHub-Media-Type": "github.v3; format=json",
    "X-GitHub-Request-Id": "C0DE:1234:5678:9ABC:DEF0",
}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]


@dataclass(frozen=True)
class Reply:
    method: str
    path: str  # with query string to require one, e.g. "/x?page=2"
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class GitHubStub:
    """Start with :meth:`start`, script with :meth:`reply`, read :attr:`requests`."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._replies: list[Reply] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> GitHubStub:
        serve = functools.partial(self._server.serve_forever, poll_interval=0.01)
        threading.Thread(target=serve, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reply(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._replies.append(Reply(method, path, status, body, headers or {}))

    def calls(self) -> list[tuple[str, str]]:
        """(method, path with query) of every request, in order."""
        return [(r.method, _with_query(r.path, r.query)) for r in self.requests]

    @property
    def unused(self) -> list[Reply]:
        return list(self._replies)

    def _answer(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            target = _with_query(request.path, request.query)
            for reply in self._replies:
                if reply.method == request.method and reply.path in (target, request.path):
                    self._replies.remove(reply)
                    return reply
        message = f"stub: nothing scripted for {request.method} {target}"
        return Reply(request.method, request.path, 599, {"message": message})


def _with_query(path: str, query: dict[str, list[str]]) -> str:
    pairs = "&".join(f"{k}={v}" for k, values in sorted(query.items()) for v in values)
    return f"{path}?{pairs}" if pairs else path


def _handler_for(stub: GitHubStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = Request(
                self.command,
                split.path,
                parse_qs(split.query),
                json.loads(raw) if raw else None,
                dict(self.headers.items()),
            )
            reply = stub._answer(request)
            data = json.dumps(reply.body).encode() if reply.body is not None else b""
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            given = {name.lower() for name in reply.headers}
            defaults = {k: v for k, v in GITHUB_HEADERS.items() if k.lower() not in given}
            for name, value in {**defaults, **reply.headers}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


# Bodies with the fields PyGithub reads ----------------------------------------------


def user_json(login: str) -> dict[str, Any]:
    kind = "Bot" if login.endswith("[bot]") else "User"
    return {"login": login, "id": 1, "type": kind}


def repo_json(api: str, full_name: str) -> dict[str, Any]:
    owner = full_name.split("/")[0]
    return {
        "id": 1,
        "name": full_name.split("/")[1],
        "full_name": full_name,
        "owner": user_json(owner),
        "url": f"{api}/repos/{full_name}",
        "html_url": f"https://github.com/{full_name}",
        "pulls_url": f"{api}/repos/{full_name}/pulls{{/number}}",
        "default_branch": "main",
    }


def pull_json(
    api: str, full_name: str, number: int, head: str, base: str = "main"
) -> dict[str, Any]:
    repo = repo_json(api, full_name)
    return {
        "id": 1000 + number,
        "number": number,
        "state": "open",
        "title": "",
        "body": "",
        "url": f"{api}/repos/{full_name}/pulls/{number}",
        "html_url": f"https://github.com/{full_name}/pull/{number}",
        "issue_url": f"{api}/repos/{full_name}/issues/{number}",
        "head": {"ref": head, "sha": "a" * 40, "label": f"octo:{head}", "repo": repo},
        "base": {"ref": base, "sha": "b" * 40, "label": f"octo:{base}", "repo": repo},
        "user": user_json("octo"),
    }


def comment_json(
    api: str,
    full_name: str,
    number: int,
    comment_id: int,
    body: str,
    author: str = "github-actions[bot]",
) -> dict[str, Any]:
    return {
        "id": comment_id,
        "body": body,
        "url": f"{api}/repos/{full_name}/issues/comments/{comment_id}",
        "html_url": f"https://github.com/{full_name}/pull/{number}#issuecomment-{comment_id}",
        "issue_url": f"{api}/repos/{full_name}/issues/{number}",
        "user": user_json(author),
        "created_at": "2026-11-23T00:00:00Z",
        "updated_at": "2026-11-23T00:00:00Z",
    }
