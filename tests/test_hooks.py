"""``nbflow hooks install/uninstall`` and the hook itself, fired by real commits."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
from helpers import commit_all, git, latest_run, write_manifest, write_notebook

from nbflow.cli import main
from nbflow.git.hooks import MARKER, hook_script
from nbflow.store.runs import iter_run_dirs

NBFLOW_SOURCE = str(Path(__file__).resolve().parent.parent)


@pytest.fixture(autouse=True)
def _hook_finds_this_nbflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook runs ``python -m nbflow`` in a new process: make it import this tree."""
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [NBFLOW_SOURCE, path])))
    monkeypatch.delenv("NBFLOW_HOOK", raising=False)
    monkeypatch.delenv("GIT_REFLOG_ACTION", raising=False)


def demo(root: Path, value: int = 1) -> None:
    folder = root / "workflows" / "demo"
    write_notebook(folder / "a.ipynb", None, [f"import nbflow\nnbflow.record('v', {value})"])
    write_notebook(folder / "b.ipynb", None, ["2"])
    write_manifest(
        folder,
        "name: demo\nsteps:\n  - {id: a, notebook: a.ipynb}\n"
        "  - {id: b, notebook: b.ipynb, needs: []}\n",
    )


def test_install_writes_an_executable_hook(
    project_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hooks", "install"]) == 0

    hook = project_repo.resolve() / ".git" / "hooks" / "post-commit"
    assert capsys.readouterr().out == f"{hook}\n"
    assert hook.stat().st_mode & stat.S_IXUSR
    text = hook.read_text()
    assert text.startswith(f"#!/bin/sh\n{MARKER}\n")
    assert f"{sys.executable} -m nbflow -C . " in text
    assert text == hook_script("post-commit", sys.executable, ".")


def test_commits_run_the_affected_workflows(project_repo: Path) -> None:
    assert main(["hooks", "install"]) == 0
    demo(project_repo)
    commit_all(project_repo, "first commit: no HEAD~1")

    _, first = latest_run(project_repo, "demo")
    assert (first.trigger, [s.status for s in first.steps]) == ("hook", ["succeeded"] * 2)

    demo(project_repo, value=5)
    commit_all(project_repo, "change a")  # also commits the first run's folder: not a change
    folder, second = latest_run(project_repo, "demo")
    assert folder.name != first.run_id
    assert [(s.id, s.status, s.reason) for s in second.steps] == [
        ("a", "succeeded", ""),
        ("b", "skipped", "not selected"),
    ]
    assert second.step("a").outputs == {"v": 5}

    commit_all(project_repo, "only the second run's folder")
    assert len(list(iter_run_dirs(project_repo / "runs", "demo"))) == 2


def test_hook_is_skipped_when_asked_and_during_a_rebase(
    project_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["hooks", "install"]) == 0
    monkeypatch.setenv("NBFLOW_HOOK", "skip")
    demo(project_repo)
    commit_all(project_repo, "first")
    git(project_repo, "checkout", "-q", "-b", "feature")
    demo(project_repo, value=2)
    commit_all(project_repo, "feature")
    git(project_repo, "checkout", "-q", "main")
    (project_repo / "README.md").write_text("main moved on\n")
    commit_all(project_repo, "main")
    monkeypatch.delenv("NBFLOW_HOOK")

    git(project_repo, "checkout", "-q", "feature")
    git(project_repo, "rebase", "-q", "main")  # replays "feature": post-commit fires, skips

    assert git(project_repo, "log", "--format=%s", "-3") == "feature\nmain\nfirst"
    assert not (project_repo / "runs").exists()


def test_install_refuses_a_foreign_hook(
    project_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = project_repo.resolve() / ".git" / "hooks" / "post-commit"
    hook.write_text("#!/bin/sh\necho mine\n")

    assert main(["hooks", "install"]) == 2
    assert capsys.readouterr().err == (
        f"error: {hook} exists and was not written by nbflow; merge it by hand, "
        "or replace it with `nbflow hooks install --force`\n"
    )
    assert hook.read_text() == "#!/bin/sh\necho mine\n"
    assert main(["hooks", "uninstall"]) == 0
    assert hook.exists()

    assert main(["hooks", "install", "--force"]) == 0
    assert MARKER in hook.read_text()


def test_reinstall_and_uninstall(project_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hooks = project_repo.resolve() / ".git" / "hooks"
    assert main(["hooks", "install"]) == 0
    assert main(["hooks", "install"]) == 0  # its own hook: replaced without --force
    assert main(["hooks", "install", "--hook", "pre-push"]) == 0
    capsys.readouterr()

    assert main(["hooks", "uninstall"]) == 0
    assert capsys.readouterr().out == (
        f"removed {hooks / 'post-commit'}\nremoved {hooks / 'pre-push'}\n"
    )
    assert main(["hooks", "uninstall"]) == 0
    assert capsys.readouterr() == ("", "no nbflow hook installed\n")


def test_core_hooks_path_is_respected(project_repo: Path) -> None:
    git(project_repo, "config", "core.hooksPath", ".githooks")
    assert main(["hooks", "install"]) == 0
    assert (project_repo / ".githooks" / "post-commit").is_file()
    assert not (project_repo / ".git" / "hooks" / "post-commit").exists()

    demo(project_repo)
    commit_all(project_repo, "first")
    _, record = latest_run(project_repo, "demo")
    assert record.trigger == "hook"


def test_pre_push_runs_before_the_push(project_repo: Path, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(project_repo, "remote", "add", "origin", str(origin))
    assert main(["hooks", "install", "--hook", "pre-push"]) == 0
    demo(project_repo)
    commit_all(project_repo, "first")
    assert not (project_repo / "runs").exists()  # committing runs nothing

    git(project_repo, "push", "-q", "origin", "main")
    _, record = latest_run(project_repo, "demo")
    assert (record.trigger, [s.status for s in record.steps]) == ("hook", ["succeeded"] * 2)
