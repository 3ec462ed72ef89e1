"""wait_for's path matcher and its watch: local globs, fsspec's memory://, timeouts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbflow.engine.waiting import WaitError, Watch, unmatched

fsspec = pytest.importorskip("fsspec")


@pytest.fixture
def memory() -> Iterator[object]:
    """fsspec's in-memory file system, emptied after the test."""
    filesystem = fsspec.filesystem("memory")
    yield filesystem
    filesystem.store.clear()
    filesystem.pseudo_dirs[:] = [""]


def test_local_globs_relative_to_the_base_and_absolute(tmp_path: Path) -> None:
    (tmp_path / "raw" / "2026-11-20").mkdir(parents=True)
    (tmp_path / "raw" / "2026-11-20" / "stripe.csv").write_text("x\n")
    other = tmp_path / "elsewhere"
    other.mkdir()

    patterns = [
        "raw/2026-11-20/*.csv",
        "raw/**/stripe.csv",
        f"{other}/*.csv",
        "file://" + str(tmp_path / "raw" / "2026-11-20" / "stripe.csv"),
    ]

    assert unmatched(patterns, tmp_path) == [f"{other}/*.csv"]


def test_memory_urls_are_listed_through_fsspec(tmp_path: Path, memory: object) -> None:
    patterns = ["memory://drop/2026-11-20/*.csv"]
    assert unmatched(patterns, tmp_path) == patterns

    fsspec.filesystem("memory").pipe("/drop/2026-11-20/paypal.csv", b"a,b\n")

    assert unmatched(patterns, tmp_path) == []


def test_an_unknown_protocol_is_an_error_not_a_wait(tmp_path: Path) -> None:
    with pytest.raises(WaitError, match="unknown protocol 'nosuch' in 'nosuch://x/y'"):
        unmatched(["nosuch://x/y"], tmp_path)


def test_a_watch_becomes_ready_when_the_last_file_appears(tmp_path: Path, memory: object) -> None:
    watch = Watch("load", ("a.csv", "memory://drop/b.csv"), tmp_path, timeout=600, every=0.05)
    watch.start()
    (tmp_path / "a.csv").write_text("x")
    deadline = time.monotonic() + 60
    while watch.missing != ["memory://drop/b.csv"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not watch.ready and watch.missing == ["memory://drop/b.csv"]

    fsspec.filesystem("memory").pipe("/drop/b.csv", b"x")

    assert watch._ready.wait(60)
    assert watch.missing == [] and watch.checks >= 2


def test_a_watch_times_out_naming_what_is_missing(tmp_path: Path) -> None:
    watch = Watch("load", ("never/*.csv",), tmp_path, timeout=0.3, every=0.1).start()

    while not watch.timed_out:
        time.sleep(0.05)

    assert not watch.ready and watch.missing == ["never/*.csv"]
    assert watch._thread is not None
    watch._thread.join(60)  # the thread ends by itself at the deadline
    assert not watch._thread.is_alive()


def test_stopping_a_watch_ends_its_thread_before_the_next_check(tmp_path: Path) -> None:
    watch = Watch("load", ("never.csv",), tmp_path, timeout=3600, every=3600).start()
    while watch.checks == 0:
        time.sleep(0.01)

    watch.stop()

    assert watch._thread is not None
    watch._thread.join(60)
    assert not watch._thread.is_alive() and watch.checks == 1 and not watch.ready


def test_a_watch_with_a_bad_protocol_reports_the_error(tmp_path: Path) -> None:
    watch = Watch("load", ("nosuch://x",), tmp_path, timeout=3600, every=1).start()
    assert watch._thread is not None
    watch._thread.join(60)

    assert "unknown protocol 'nosuch'" in watch.error and not watch.ready
