"""``report: {html: true, hide_code: true}``: an HTML copy beside each executed
notebook (a sweep's items too), made from the masked notebook, recorded, linked from
the report and committed with the run; real kernels, a real Git repository."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import git, latest_run, markdown_cell, write_manifest, write_notebook

from nbflow.cli import main

SECRET = "canary-7Rq2-html"


def workflow(project: Path, settings: str) -> None:
    folder = project / "workflows" / "pages"
    show = ["import nbflow", "print('the token is', nbflow.secret('API_TOKEN'))"]
    write_notebook(folder / "show.ipynb", "n = 1", [markdown_cell("# Results"), *show])
    write_notebook(folder / "sweep.ipynb", "item = ''", ["print('item', item)"])
    write_manifest(
        folder,
        f"""
        name: pages
        secrets: [API_TOKEN]
        {settings}
        steps:
          - id: show
            notebook: show.ipynb
          - id: sweep
            notebook: sweep.ipynb
            foreach: [eu, us]
            parameters: {{item: "${{{{ item }}}}"}}
            report: {{hide_code: false}}
        """,
    )


def test_html_is_written_from_the_masked_notebook_and_committed(
    project_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", SECRET)
    workflow(project_repo, "report: {html: true, hide_code: true}")
    git(project_repo, "add", ".")
    git(project_repo, "commit", "-q", "-m", "pages")

    assert main(["run", "pages", "--commit"]) == 0

    run_dir, record = latest_run(project_repo, "pages")
    show = (run_dir / "show.html").read_text(encoding="utf-8")
    assert "the token is ***" in show
    assert '<h1 id="Results">Results' in show  # Markdown stays
    code = '<span class="nb">print</span>'  # how nbconvert highlights `print` in a code cell
    assert code not in show and "API_TOKEN" not in show  # hide_code: no input
    item = (run_dir / "sweep.0.html").read_text(encoding="utf-8")
    assert "item eu" in item and code in item  # the step's hide_code: false wins
    assert record.step("show").html == "show.html"
    assert [i.html for i in record.step("sweep").items] == ["sweep.0.html", "sweep.1.html"]
    for path in run_dir.iterdir():
        assert SECRET not in path.read_text(encoding="utf-8"), path
    committed = git(project_repo, "ls-tree", "--name-only", "HEAD", f"runs/pages/{run_dir.name}/")
    assert sorted(Path(p).name for p in committed.split()) == [
        "README.md",
        "run.json",
        "show.html",
        "show.ipynb",
        "sweep.0.html",
        "sweep.0.ipynb",
        "sweep.1.html",
        "sweep.1.ipynb",
    ]
    report = (run_dir / "README.md").read_text(encoding="utf-8")
    assert "[`show.ipynb`](show.ipynb) · [HTML](show.html)" in report


def test_no_report_settings_write_no_html(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", SECRET)
    workflow(project, "")
    assert main(["run", "pages"]) == 0
    run_dir, record = latest_run(project, "pages")
    assert list(run_dir.glob("*.html")) == []
    assert '"html"' not in (run_dir / "run.json").read_text(encoding="utf-8")
