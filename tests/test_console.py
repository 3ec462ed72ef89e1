"""Run progress on stderr: under GitHub Actions each step's log is one contiguous
group, however many steps run at once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import latest_run, sweep_workflow, write_manifest, write_notebook

from nbflow.cli import main

OUTPUT = re.compile(r"  \| \[(?P<thread>\S+)\] (?P<text>.*)")


def groups(stderr: str) -> tuple[list[str], dict[str, list[str]]]:
    """The lines outside any group, and each group's lines by its step id; fails when a
    group opens before the one open is closed, or one is never closed."""
    outside: list[str] = []
    inside: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in stderr.splitlines():
        if line.startswith("::group::"):
            assert current is None, f"{line!r} opened inside another group"
            step_id = line.removeprefix("::group::").split()[1]
            assert step_id not in inside, f"a second group for {step_id}"
            current = inside[step_id] = [line]
        elif line == "::endgroup::":
            assert current is not None, "::endgroup:: with no group open"
            current = None
        elif current is not None:
            current.append(line)
        else:
            outside.append(line)
    assert current is None, "a group is never closed"
    return outside, inside


def output_of(lines: list[str]) -> list[tuple[str, str]]:
    """The notebook output among ``lines``: (thread, text) pairs."""
    return [(m["thread"], m["text"]) for m in map(OUTPUT.fullmatch, lines) if m]


def parallel_workflow(project: Path) -> None:
    """boom fails while independent, which needs nothing, is still running."""
    folder = project / "workflows" / "par"
    write_notebook(
        folder / "boom.ipynb",
        None,
        ["import time\nprint('boom starting')\ntime.sleep(0.5)", "raise ValueError('boom')"],
    )
    write_notebook(
        folder / "independent.ipynb",
        None,
        [
            "import time\nprint('independent starting\\n::endgroup::')\n"
            "time.sleep(3)\nprint('independent done')"
        ],
    )
    write_manifest(
        folder,
        """
        name: par
        steps:
          - {id: boom, notebook: boom.ipynb}
          - {id: independent, notebook: independent.ipynb, needs: []}
        """,
    )


def test_parallel_steps_each_log_one_contiguous_group(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    parallel_workflow(project)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")

    assert main(["run", "par", "--jobs", "2", "--log-output"]) == 1

    run_dir, record = latest_run(project, "par")
    outside, inside = groups(capsys.readouterr().err)
    assert outside == [
        f"nbflow: par run {record.run_id} started",
        "▶ boom running",
        "▶ independent running",  # both running: boom's group is printed after this
        f"nbflow: par failed (1/2 steps) in {record.duration:.1f} s",
        f"executed notebooks and report: {run_dir}",
    ]
    boom, independent = inside["boom"], inside["independent"]
    assert list(inside) == ["boom", "independent"]  # boom failed first
    assert boom[0] == (
        f"::group::✗ boom failed {record.step('boom').duration:.1f} s — cell 1: ValueError: boom"
    )
    assert independent[0] == (
        f"::group::✓ independent succeeded {record.step('independent').duration:.1f} s"
    )
    assert {thread for thread, _ in output_of(boom)} == {"boom"}
    assert {thread for thread, _ in output_of(independent)} == {"independent"}
    assert ("boom", "boom starting") in output_of(boom)
    printed = [text for _, text in output_of(independent)]
    start = printed.index("independent starting")
    assert printed[start : start + 3] == [
        "independent starting",
        "::endgroup::",  # printed by the notebook: prefixed, so not a workflow command
        "independent done",
    ]
    assert "ValueError" in boom[-1]  # the traceback's last line, indented
    assert boom[-1].startswith("  ")


def test_without_output_a_succeeded_step_is_one_line(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    parallel_workflow(project)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")

    assert main(["run", "par", "--jobs", "2"]) == 1

    _, record = latest_run(project, "par")
    outside, inside = groups(capsys.readouterr().err)
    took = record.step("independent").duration
    assert f"✓ independent succeeded {took:.1f} s" in outside
    assert list(inside) == ["boom"]
    assert output_of(inside["boom"]) == []
    assert "ValueError" in inside["boom"][-1]


def test_a_sweep_logs_its_items_output_in_item_order(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep_workflow(project / "workflows" / "sweep", "${{ params.regions }}")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")

    assert main(["run", "sweep", "--jobs", "3", "--log-output", "-p", "regions=[eu, boom]"]) == 1

    outside, inside = groups(capsys.readouterr().err)
    region = inside["region"]
    assert region[0].startswith("::group::✗ region failed")
    threads = [thread for thread, _ in output_of(region)]
    order = ["region[eu]", "region[boom]"]  # items named by their value, in item order
    assert threads == sorted(threads, key=order.index) and set(threads) == set(order)
    assert "  region[boom]: cell 1: AssertionError: no such region" in region
    assert "- combine skipped — needs 'region', which failed" in outside
