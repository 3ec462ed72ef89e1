"""Git commands run in one work tree: the only module that runs ``git``.

Each command is a ``git`` process, run as GitPython runs it (English messages,
``LC_ALL=C``; one trailing newline stripped from the output), without importing
GitPython: its import alone cost a third of a no-op run's time budget, and nbflow
used nothing of it but running commands. Many records are read from Git objects in
one ``git cat-file --batch``.

Failures become StoreError naming the command and git's message; a held
``index.lock`` is explained. Tokens (``GITHUB_TOKEN``/``GH_TOKEN``) reach git
through the environment of the push and fetch commands only (``GIT_CONFIG_*``),
never ``.git/config``, and are scrubbed from messages.
"""

from __future__ import annotations

import base64
import os
import stat
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from nbflow.errors import StoreError
from nbflow.git import trees
from nbflow.git.trees import Entry, Layout

DEFAULT_REMOTE = "origin"
ZERO_SHA = "0" * 40
DEFAULT_IDENTITY = ("nbflow", "nbflow@users.noreply.github.com")


@dataclass(frozen=True)
class GitFailure:
    command: Sequence[str]
    status: int | str | None
    stderr: str

    def __str__(self) -> str:
        detail = " ".join(self.stderr.split()) or "no message"
        return f"`git {' '.join(self.command)}` failed (exit {self.status}): {detail}"


class Git:
    """Git commands run in one work tree; failures become StoreError."""

    def __init__(self, top: Path) -> None:
        self.top = top.resolve()
        self.secrets: list[str] = []

    @classmethod
    def open(cls, path: Path) -> Git:
        found = cls.find(path)
        if found is None:
            raise StoreError(f"{path} is not in a Git work tree; run `git init` first")
        return found

    @classmethod
    def find(cls, path: Path) -> Git | None:
        """The work tree holding ``path``; None outside one (or in a bare repository,
        or when git is not installed)."""
        folder = Path(path)
        try:
            found = _process(["rev-parse", "--show-toplevel"], folder, None)
        except OSError:  # no such folder, or no git
            return None
        top = _text(found.stdout)
        return cls(Path(top)) if found.returncode == 0 and top else None

    # ----------------------------------------------------------------- running

    def try_run(self, *args: str, env: Mapping[str, str] | None = None) -> GitFailure | None:
        """Run git; the failure, or None on success."""
        return self._execute(args, env)[1]

    def run(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        """Run git and return its output; StoreError naming the command on failure."""
        out, failure = self._execute(args, env)
        if failure is not None:
            raise StoreError(self._explain(failure))
        return out

    def _execute(
        self, args: Sequence[str], env: Mapping[str, str] | None
    ) -> tuple[str, GitFailure | None]:
        try:
            done = _process(args, self.top, env)
        except OSError as exc:  # git missing, or it could not start
            return "", GitFailure(args, "not started", self._scrub(str(exc)))
        out = _text(done.stdout)
        if done.returncode != 0:
            return out, GitFailure(args, done.returncode, self._scrub(_text(done.stderr)))
        return out, None

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def _explain(self, failure: GitFailure) -> str:
        if "index.lock" in failure.stderr and "exists" in failure.stderr:
            return lock_message(self.git_path("index.lock"), None)
        return str(failure)

    # ----------------------------------------------------------------- reading

    def relative(self, path: Path) -> str:
        """``path`` relative to the top of the work tree, as POSIX text."""
        try:
            return Path(path).resolve().relative_to(self.top).as_posix()
        except ValueError:
            raise StoreError(f"{path} is outside the Git work tree {self.top}") from None

    def git_path(self, name: str) -> Path:
        return self.top / self.run("rev-parse", "--git-path", name)

    def rev(self, name: str) -> str | None:
        out, failure = self._execute(("rev-parse", "-q", "--verify", f"{name}^{{commit}}"), None)
        return out.strip() if failure is None and out.strip() else None

    def is_ancestor(self, older: str, newer: str) -> bool:
        return self.try_run("merge-base", "--is-ancestor", older, newer) is None

    def is_run_commit(self, sha: str) -> bool:
        body = self.run("log", "-1", "--format=%B", sha)
        return any(line.startswith("Nbflow-Run: ") for line in body.splitlines())

    def unpublished(self, tip: str, remote: str) -> list[tuple[str, str]]:
        """The commits (id, subject) reachable from ``tip`` and from no ref of ``remote``
        that are not nbflow run commits, newest first."""
        out = self.run(
            "log",
            "--format=%H %s",
            "--invert-grep",
            "--grep=^Nbflow-Run: ",
            tip,
            "--not",
            f"--remotes={remote}",
        )
        return [(line[:40], line[41:]) for line in out.splitlines() if line]

    def current_branch(self) -> str:
        out, failure = self._execute(("symbolic-ref", "-q", "--short", "HEAD"), None)
        if failure is not None or not out.strip():
            raise StoreError(
                "cannot commit the run to the current branch: HEAD is detached; check out a "
                "branch, or use --target runs-branch or --target pr"
            )
        return out.strip()

    def files_named(
        self, rev: str, folder: str, name: str, wanted: Callable[[str], bool] | None = None
    ) -> list[tuple[str, bytes]]:
        """Every file called ``name`` under ``folder`` at ``rev`` (whose path ``wanted``
        accepts, when given): its path (relative to the work tree top) and its bytes,
        all read by one ``git cat-file --batch`` — not an object lookup per file, which
        is slow over thousands of run records. Nothing when ``rev`` or ``folder`` does
        not exist."""
        found = self.blobs_named(rev, folder, name, wanted)
        return list(zip((p for p, _ in found), self.read_blobs([b for _, b in found]), strict=True))

    def blobs_named(
        self, rev: str, folder: str, name: str, wanted: Callable[[str], bool] | None = None
    ) -> list[tuple[str, str]]:
        """The paths and blob ids of the files :meth:`files_named` reads, unread."""
        spec = [] if folder in ("", ".") else ["--", f":(top,literal){folder}/"]
        out, failure = self._execute(("ls-tree", "-r", "-z", "--full-tree", rev, *spec), None)
        if failure is not None:
            return []
        found: list[tuple[str, str]] = []  # (path, object id)
        tail = f"/{name}"
        for entry in out.split("\0"):
            if not entry.endswith(tail) and not entry.endswith(f"\t{name}"):
                continue  # most entries: cheap to skip before splitting
            meta, _, path = entry.partition("\t")
            mode_type_id = meta.split()
            if mode_type_id[1:2] == ["blob"] and path.rpartition("/")[2] == name:
                if wanted is not None and not wanted(path):
                    continue
                found.append((path, mode_type_id[2]))
        return found

    def read_blobs(self, ids: Sequence[str]) -> list[bytes]:
        """The contents of the objects ``ids``, by one ``git cat-file --batch``."""
        return [data or b"" for data in self.read_objects(ids)]

    def read_objects(self, names: Sequence[str]) -> list[bytes | None]:
        """The contents of the objects ``names`` (ids, or ``REV:PATH``), None for each
        that does not exist, by one ``git cat-file --batch``."""
        if not names:
            return []
        given = "".join(f"{n}\n" for n in names).encode("utf-8", "surrogateescape")
        batch = _process(["cat-file", "--batch"], self.top, None, given)
        if batch.returncode != 0:
            raise StoreError(f"`git cat-file --batch` failed: {_text(batch.stderr)}")
        return _batch_contents(batch.stdout)

    def upstream(self, branch: str) -> tuple[str, str]:
        remote = self._config(f"branch.{branch}.remote") or self.default_remote()
        merge = self._config(f"branch.{branch}.merge") or f"refs/heads/{branch}"
        return remote, merge

    def default_remote(self) -> str:
        remotes = self.run("remote").split()
        if DEFAULT_REMOTE in remotes:
            return DEFAULT_REMOTE
        if len(remotes) == 1:
            return remotes[0]
        raise StoreError(
            f"cannot push the run: no remote named '{DEFAULT_REMOTE}' in {self.top}; add one "
            "with `git remote add origin URL`, or commit without --push"
        )

    def remote_url(self, remote: str) -> str:
        return self._config(f"remote.{remote}.url")

    def _config(self, key: str) -> str:
        out, failure = self._execute(("config", "--get", key), None)
        return out.strip() if failure is None else ""

    def _flags(self, *keys: str) -> list[bool]:
        """Boolean settings (lower-case names), each true when unset (as ``core.filemode``
        and ``core.symlinks``), read by one ``git config``."""
        pattern = "^(" + "|".join(k.replace(".", "\\.") for k in keys) + ")$"
        out, _ = self._execute(("config", "--type=bool", "--get-regexp", pattern), None)
        values = dict(line.partition(" ")[::2] for line in out.splitlines())
        return [values.get(key, "true") != "false" for key in keys]

    def _feed(self, args: Sequence[str], lines: Sequence[str], data: bytes = b"") -> list[str]:
        """Run git with ``lines`` (or ``data``) on its input; its output's lines."""
        given = "".join(f"{line}\n" for line in lines).encode("utf-8", "surrogateescape")
        done = _process(args, self.top, None, given + data)
        if done.returncode != 0:
            raise StoreError(
                str(GitFailure(args, done.returncode, self._scrub(_text(done.stderr))))
            )
        return _text(done.stdout).splitlines()

    # ----------------------------------------------------------------- writing

    def tree_with_files(self, parent: str | None, paths: Sequence[str]) -> str:
        """The tree of ``parent`` (empty: none) plus ``paths`` from the work tree, as
        ``git add -f`` stages them (ignored files too, the executable bit, symbolic
        links, the attributes' filters), built without an index: the files are hashed
        and only the trees from the top down to their folders are read and written
        again (``mktree``), so the cost does not grow with the repository's size."""
        filemode, symlinks = self._flags("core.filemode", "core.symlinks")
        regular = [p for p in paths if not os.path.islink(self.top / p)]
        blobs = dict(
            zip(regular, self._feed(("hash-object", "-w", "--stdin-paths"), regular), strict=True)
        )
        files: dict[str, Entry] = {}
        for path in paths:
            if path in blobs:
                executable = filemode and os.stat(self.top / path).st_mode & stat.S_IXUSR
                files[path] = ("100755" if executable else "100644", blobs[path])
            else:  # a symbolic link: its blob is the link's target
                target = os.readlink(self.top / path).encode("utf-8", "surrogateescape")
                link = self._feed(("hash-object", "-w", "--stdin", "--no-filters"), [], target)
                files[path] = ("120000", link[0])
        return self.graft(parent, files, keep_mode=(not filemode, not symlinks))

    def graft(
        self,
        rev: str | None,
        files: Mapping[str, Entry],
        keep_mode: tuple[bool, bool] = (False, False),
    ) -> str:
        """The tree of ``rev`` (empty: None) with ``files`` (path: (mode, blob)) put in
        it, replacing whatever was at those paths. ``keep_mode``: keep the mode a
        regular file had in ``rev`` (``core.filemode`` false), keep a symbolic link's
        mode for a regular file (``core.symlinks`` false), as ``git add`` does."""
        layout = trees.layout(files)
        return self._write_tree(layout, "", self._trees(rev, trees.folders(layout)), keep_mode)

    def _write_tree(
        self,
        layout: Layout,
        folder: str,
        read: Mapping[str, dict[str, Entry]],
        keep_mode: tuple[bool, bool],
    ) -> str:
        """Write the tree of ``folder``: its entries in ``read`` with ``layout`` put in."""
        entries = dict(read.get(folder, {}))
        for name, child in layout.items():
            if isinstance(child, dict):
                path = f"{folder}/{name}" if folder else name
                entries[name] = ("40000", self._write_tree(child, path, read, keep_mode))
            else:
                entries[name] = trees.added_mode(child, entries.get(name), keep_mode)
        listing = [
            f"{mode} {trees.object_type(mode)} {sha}\t{name}"
            for name, (mode, sha) in entries.items()
        ]
        return self._feed(
            ("mktree", "-z"),
            [],
            "".join(f"{e}\0" for e in listing).encode("utf-8", "surrogateescape"),
        )[0]

    def _trees(self, rev: str | None, folders: Sequence[str]) -> dict[str, dict[str, Entry]]:
        """The entries (name: (mode, id)) of each of ``folders`` that is a tree at
        ``rev``, all read by one ``git cat-file --batch``."""
        if rev is None:
            return {}
        names = [f"{rev}:{folder}" if folder else f"{rev}^{{tree}}" for folder in folders]
        batch = _process(
            ["cat-file", "--batch"], self.top, None, "".join(f"{n}\n" for n in names).encode()
        )
        if batch.returncode != 0:
            raise StoreError(f"`git cat-file --batch` failed: {_text(batch.stderr)}")
        found, at, out = {}, 0, batch.stdout
        for folder in folders:
            header_end = out.index(b"\n", at)
            header = out[at:header_end].split(b" ")
            at = header_end + 1
            if header[-1] == b"missing":
                continue
            size = int(header[2])
            if header[1] == b"tree":
                found[folder] = trees.entries(out[at : at + size], len(header[0]) // 2)
            at += size + 1
        return found

    def add_files(self, paths: Sequence[str], env: Mapping[str, str]) -> None:
        """``git add -f`` (ignored files too: ``runs/`` may be in .gitignore) into the
        index ``env`` names."""
        self.run("add", "-f", "--", *paths, env=env)

    def check_only_folder(
        self, parent: str | None, tree: str, folder: str, also: Sequence[str] = ()
    ) -> None:
        """Refuse (a bug if it happens) to commit anything outside the run folder but
        the files ``also`` names (the workflow's history page)."""
        if parent:
            changed = self.run("diff-tree", "-r", "--name-only", "--no-renames", parent, tree)
        else:
            changed = self.run("ls-tree", "-r", "--name-only", tree)
        outside = [
            p
            for p in changed.splitlines()
            if p and not p.startswith(f"{folder}/") and p not in also
        ]
        if outside:
            raise StoreError(
                f"internal error: the run commit would change {', '.join(outside[:5])} outside "
                f"{folder}; nothing was committed"
            )

    def commit_tree(
        self, tree: str, parents: Sequence[str], message: str, env: Mapping[str, str] | None = None
    ) -> str:
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        return self.run(*args, "-m", message, env={**self._identity(), **(env or {})}).strip()

    def update_ref(self, ref: str, new: str, old: str) -> None:
        self.run("update-ref", "-m", "nbflow: commit run", ref, new, old)

    def try_update_ref(self, ref: str, new: str, old: str) -> GitFailure | None:
        """Move ``ref`` to ``new`` if it is at ``old`` (compare-and-swap); the failure."""
        return self.try_run("update-ref", "-m", "nbflow: commit run", ref, new, old)

    def _identity(self) -> dict[str, str]:
        """Fallback author/committer when none is configured (e.g. a fresh CI runner)."""
        env: dict[str, str] = {}
        name, email = self._config("user.name"), self._config("user.email")
        for role in ("AUTHOR", "COMMITTER"):
            if not name and f"GIT_{role}_NAME" not in os.environ:
                env[f"GIT_{role}_NAME"] = DEFAULT_IDENTITY[0]
            if not email and f"GIT_{role}_EMAIL" not in os.environ:
                env[f"GIT_{role}_EMAIL"] = DEFAULT_IDENTITY[1]
        return env

    # ----------------------------------------------------------------- remotes

    def fetch(self, remote: str, branch: str) -> str | None:
        """Fetch ``branch`` from ``remote`` into its remote-tracking ref; its tip, or
        None when the remote has no such branch (yet)."""
        tracking = f"refs/remotes/{remote}/{branch}"
        out, failure = self._execute(
            ("fetch", "--no-tags", "-q", remote, f"+refs/heads/{branch}:{tracking}"),
            self._remote_env(remote),
        )
        if failure is not None:
            if "couldn't find remote ref" in failure.stderr:
                return None
            raise StoreError(str(failure))
        return self.rev(tracking)

    def try_push(self, remote: str, refspec: str) -> GitFailure | None:
        return self.try_run("push", remote, refspec, env=self._remote_env(remote))

    def push(self, remote: str, refspec: str) -> None:
        failure = self.try_push(remote, refspec)
        if failure is not None:
            raise StoreError(f"{failure}; the run commit is kept locally")

    def _remote_env(self, remote: str) -> dict[str, str]:
        env = {"GIT_TERMINAL_PROMPT": "0"}
        token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
        url = self._config(f"remote.{remote}.url")
        if not token or not url.startswith("https://"):
            return env
        header = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        self.secrets += [token, header]
        key = f"http.https://{urlsplit(url).netloc.rpartition('@')[2]}/.extraheader"
        # The empty value first clears a header actions/checkout may have persisted;
        # entries already given through GIT_CONFIG_* are kept.
        first = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
        values = ("", f"AUTHORIZATION: basic {header}")
        for n, value in enumerate(values, start=first):
            env[f"GIT_CONFIG_KEY_{n}"], env[f"GIT_CONFIG_VALUE_{n}"] = key, value
        env["GIT_CONFIG_COUNT"] = str(first + len(values))
        return env


def _process(
    args: Sequence[str], cwd: Path, env: Mapping[str, str] | None, given: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git ARGS`` in ``cwd``: messages in English (nbflow reads some of them),
    ``env`` on top of nbflow's environment, ``given`` (else nothing) on its input."""
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, "LANGUAGE": "C", "LC_ALL": "C", **(env or {})},
        input=given,
        stdin=None if given is not None else subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )


def _text(output: bytes) -> str:
    """A git command's output as text, without its one trailing newline."""
    text = output.decode("utf-8", "surrogateescape")
    return text[:-1] if text.endswith("\n") else text


def _batch_contents(out: bytes) -> list[bytes | None]:
    """The objects' contents in the output of ``git cat-file --batch``: each is a
    header ``<id> <type> <size>``, the bytes, and a newline; or ``<name> missing``."""
    contents: list[bytes | None] = []
    at = 0
    while at < len(out):
        header_end = out.index(b"\n", at)
        size_text = out[at:header_end].rsplit(b" ", 1)[1]
        if size_text == b"missing":
            contents.append(None)
            at = header_end + 1
            continue
        size = int(size_text)
        contents.append(out[header_end + 1 : header_end + 1 + size])
        at = header_end + 1 + size + 1
    return contents


def lock_message(lock: Path, run_id: str | None) -> str:
    again = f"`nbflow commit {run_id}`" if run_id else "the same command"
    return (
        f"cannot commit the run: {lock} exists, so another git process is using this "
        "repository (or one crashed and left the file behind); wait for it to finish, or "
        f"delete {lock} if no git process is running, then commit the run with {again}"
    )
