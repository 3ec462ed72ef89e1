"""Git hooks that run the workflows a commit (or a push) affects, without GitHub.

Why ``post-commit`` by default (docs/hooks.md has the whole story): it runs once
the commit exists, on exactly what was committed, and cannot block or undo the
commit; ``pre-push`` is offered for teams that want runs to pass before sharing
(a failing run then stops the push). Both scripts:

- call ``python -m nbflow`` through the absolute path of the interpreter that
  installed them, so they work without activating a virtual environment;
- skip while a rebase is replaying commits, and when ``NBFLOW_HOOK`` is set: the
  hook sets it for its run, so a commit made by the run itself never runs it again;
- carry :data:`MARKER`, so nbflow only ever replaces or removes its own hooks.
"""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path

from nbflow.errors import UsageError

log = logging.getLogger(__name__)

MARKER = "# Installed by `nbflow hooks install`; remove with `nbflow hooks uninstall`."
HOOKS = ("post-commit", "pre-push")

_COMMON = """\
#!/bin/sh
{marker}
# Runs the nbflow workflows affected by {what}. Skip once: NBFLOW_HOOK=skip git ...
[ -n "$NBFLOW_HOOK" ] && exit 0                  # set by a run: never recurse
case "$GIT_REFLOG_ACTION" in *rebase*) exit 0 ;; esac
[ -d "$(git rev-parse --git-path rebase-merge)" ] && exit 0
[ -d "$(git rev-parse --git-path rebase-apply)" ] && exit 0
empty=$(git hash-object -t tree /dev/null)       # the base of a first commit
run_nbflow() {{ NBFLOW_HOOK=1 {python} -m nbflow -C {project} "$@" </dev/null; }}
"""

_BODIES = {
    "post-commit": """\
base=$(git rev-parse --quiet --verify HEAD~1) || base=$empty
run_nbflow run --changed "$base..HEAD" --trigger hook
exit 0                                           # the commit is made either way
""",
    "pre-push": """\
zero=$(git hash-object --stdin </dev/null | tr 0-9a-f 0)
while read -r local_ref local_sha remote_ref remote_sha; do
  [ "$local_sha" = "$zero" ] && continue         # deleting a branch runs nothing
  if [ "$local_sha" != "$(git rev-parse HEAD)" ]; then
    echo "nbflow: $local_ref is not checked out: its workflows are not run" >&2; continue
  fi
  base=$remote_sha
  if [ "$base" = "$zero" ]; then                 # a new branch: from where it forked
    base=$(git merge-base "$local_sha" "refs/remotes/$1/HEAD" 2>/dev/null) || base=$empty
  fi
  run_nbflow run --changed "$base..$local_sha" --trigger hook || exit 1
done
""",
}


def hook_script(hook: str, python: str = sys.executable, project: str = ".") -> str:
    """The text of the ``hook`` script, calling nbflow through ``python`` in the
    ``project`` folder (relative to the top of the work tree, where hooks start)."""
    what = "each commit" if hook == "post-commit" else "the commits being pushed"
    head = _COMMON.format(
        marker=MARKER, what=what, python=shlex.quote(python), project=shlex.quote(project)
    )
    return head + _BODIES[hook]


def is_nbflow_hook(path: Path) -> bool:
    """Whether the hook at ``path`` was written by nbflow."""
    try:
        return MARKER in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def install_hook(
    root: Path, hook: str = "post-commit", *, force: bool = False, python: str = sys.executable
) -> Path:
    """Write the ``hook`` script into the repository's hooks folder (``core.hooksPath``
    when set); refuse to replace a hook nbflow did not write unless ``force``."""
    from nbflow.git.lookups import hooks_dir, work_tree

    _check(hook)
    path = hooks_dir(root) / hook
    if path.exists() and not is_nbflow_hook(path) and not force:
        raise UsageError(
            f"{path} exists and was not written by nbflow; merge it by hand, "
            "or replace it with `nbflow hooks install --force`"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    project = Path(root).resolve().relative_to(work_tree(root)).as_posix()
    path.write_text(hook_script(hook, python, project), encoding="utf-8")
    path.chmod(0o755)
    return path


def uninstall_hook(root: Path, hook: str | None = None) -> list[Path]:
    """Remove nbflow's hooks (``hook``, or every kind); return the removed paths.
    A hook nbflow did not write is never removed."""
    from nbflow.git.lookups import hooks_dir

    removed = []
    for name in [_check(hook)] if hook else HOOKS:
        path = hooks_dir(root) / name
        if path.exists() and not is_nbflow_hook(path):
            log.warning("%s was not written by nbflow: left in place", path)
        elif path.exists():
            path.unlink()
            removed.append(path)
    return removed


def _check(hook: str) -> str:
    if hook not in HOOKS:
        raise UsageError(f"unknown hook '{hook}': nbflow installs {' or '.join(HOOKS)}")
    return hook
