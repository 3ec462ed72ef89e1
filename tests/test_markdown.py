"""nbflow.report.markdown: cutting Markdown at a block boundary, closing what is open."""

from __future__ import annotations

import pytest

from nbflow.report.markdown import cut_markdown, utf16_length

NOTE = "\n…cut\n"  # 6 code units

TABLE = "# t\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n| 3 | 4 |\n\nafter\n"


def test_text_that_fits_is_kept_whole() -> None:
    assert cut_markdown(TABLE, len(TABLE), NOTE) == TABLE


def test_utf16_length_counts_an_emoji_as_two() -> None:
    assert (len("a😀é"), utf16_length("a😀é")) == (3, 4)


def test_an_emoji_counts_twice_against_the_limit() -> None:
    text = "😀\n" * 10  # 10 lines of 3 code units, 2 code points
    assert len(text) == 20
    assert cut_markdown(text, 20, NOTE) == "😀\n" * 4 + NOTE  # 12 + 6 <= 20


@pytest.mark.parametrize(
    ("limit", "kept"),
    [
        (len(TABLE) - 1, "# t\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n| 3 | 4 |\n"),
        (len(TABLE) - 10, "# t\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n"),  # between rows
        (len("# t\n\n| a | b |\n") + len(NOTE) + 5, "# t\n\n"),  # not after the header alone
    ],
    ids=["after-the-table", "between-rows", "before-the-table"],
)
def test_a_table_is_cut_between_rows_never_inside_one(limit: int, kept: str) -> None:
    assert cut_markdown(TABLE, limit, NOTE) == kept + NOTE


def test_a_code_fence_is_closed_with_its_own_marker() -> None:
    text = "intro\n\n````text\nline 1\n```\nline 3\nline 4\n````\n\nend\n"
    cut = cut_markdown(text, len("intro\n\n````text\nline 1\n```\nline 3\n") + 5 + len(NOTE), NOTE)
    assert cut == "intro\n\n````text\nline 1\n```\nline 3\n````\n" + NOTE


def test_a_tilde_fence_and_details_are_closed_innermost_first() -> None:
    text = "<details>\n<summary>Traceback</summary>\n\n~~~\nframe 1\nframe 2\n~~~\n\n</details>\n"
    kept = "<details>\n<summary>Traceback</summary>\n\n~~~\nframe 1\n"
    closing = "~~~\n\n</details>\n"
    assert cut_markdown(text, len(kept + closing + NOTE), NOTE) == kept + closing + NOTE


def test_a_diagram_is_never_cut() -> None:
    graph = "```mermaid\nflowchart LR\n  a --> b\n  b --> c\n```\n"
    text = "# t\n\n" + graph + "\n" + "x" * 20 + "\n"
    assert cut_markdown(text, len(text) - 1, NOTE) == "# t\n\n" + graph + "\n" + NOTE
    assert cut_markdown(text, len(text) - 25, NOTE) == "# t\n\n" + NOTE


def test_a_first_line_too_long_is_cut_between_code_points() -> None:
    text = "😀" * 10 + "\nmore\n"
    assert cut_markdown(text, 5 + len(NOTE), NOTE) == "😀😀" + NOTE
