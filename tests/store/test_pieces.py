"""The files a piece carries (``files/<step>/``): copied in from the workflow folder,
restored into another one, never written outside it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from nbflow.errors import UsageError
from nbflow.store.pieces import restore_files, write_files


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_files_are_restored_later_step_and_first_folder_winning(tmp_path: Path) -> None:
    first, second, workflow = tmp_path / "first", tmp_path / "second", tmp_path / "wf"
    write(first / "files" / "a" / "data" / "x.csv", "a, first folder")
    write(second / "files" / "a" / "data" / "x.csv", "a, second folder")
    write(second / "files" / "a" / "data" / "y.csv", "a, second folder")
    write(first / "files" / "b" / "data" / "y.csv", "b")
    write(first / "files" / "c" / "data" / "z.csv", "c: not needed")

    restored = restore_files([first, second], ["a", "b"], workflow)

    assert sorted(restored) == ["data/x.csv", "data/y.csv"]
    assert (workflow / "data" / "x.csv").read_text(encoding="utf-8") == "a, first folder"
    assert (workflow / "data" / "y.csv").read_text(encoding="utf-8") == "b"
    assert not (workflow / "data" / "z.csv").exists()


def test_a_restore_through_a_link_out_of_the_workflow_folder_is_refused(tmp_path: Path) -> None:
    piece, workflow, outside = tmp_path / "piece", tmp_path / "wf", tmp_path / "outside"
    write(piece / "files" / "a" / "notes.txt", "fine")
    write(piece / "files" / "a" / "data" / "x.csv", "would escape")
    outside.mkdir()
    workflow.mkdir()
    (workflow / "data").symlink_to(outside)

    with pytest.raises(UsageError) as exc:
        restore_files([piece], ["a"], workflow)

    assert str(exc.value) == (
        f"{piece / 'files' / 'a' / 'data'}: restoring it would write {workflow / 'data'}, "
        f"outside the workflow folder {workflow}"
    )
    assert list(outside.iterdir()) == []
    assert not (workflow / "notes.txt").exists()  # nothing is written


def test_a_piece_holding_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    piece, workflow = tmp_path / "piece", tmp_path / "wf"
    secret = write(tmp_path / "secret.txt", "not yours")
    link = piece / "files" / "a" / "data" / "x.csv"
    link.parent.mkdir(parents=True)
    link.symlink_to(secret)

    with pytest.raises(UsageError) as exc:
        restore_files([piece], ["a"], workflow)

    assert str(exc.value) == f"{link}: a symbolic link in a piece; pieces hold plain files"
    assert not workflow.exists()


def test_produced_files_outside_the_workflow_folder_stay_out_of_the_piece(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    piece, workflow = tmp_path / "piece", tmp_path / "wf"
    write(workflow / "data" / "x.csv", "in")
    write(tmp_path / "elsewhere.csv", "out")

    with caplog.at_level(logging.WARNING):
        copied = write_files(piece, "a", workflow, ["data/x.csv", "../elsewhere.csv"])

    assert copied == ["data/x.csv"]
    assert [p.name for p in (piece / "files" / "a").rglob("*") if p.is_file()] == ["x.csv"]
    assert caplog.messages == [
        f"a: produced file ../elsewhere.csv is outside {workflow}: not in its piece"
    ]
