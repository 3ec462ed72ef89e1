"""A chart of step durations over runs as a plain SVG file GitHub renders (no
JavaScript, no fonts to load): one line per step, runs in logical-time order along
the x axis, seconds up the y axis. Written by hand; every text is XML-escaped."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

from nbflow.run_record import RunRecord

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 150, 20, 40
#: Colours that stay apart for most colour-blind readers (Okabe–Ito), cycled.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


def duration_chart(records: Sequence[RunRecord]) -> str:
    """The SVG text charting each step's duration in ``records`` (oldest first)."""
    steps = list(dict.fromkeys(s.id for r in records for s in r.steps))
    values = [[_seconds(r, step) for r in records] for step in steps]
    top = max((v for line in values for v in line if v is not None), default=0.0) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(index: int) -> float:
        return LEFT + (plot_w * index / (len(records) - 1) if len(records) > 1 else plot_w / 2)

    def y(seconds: float) -> float:
        return TOP + plot_h * (1 - seconds / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        "<title>Step durations per run (seconds)</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" '
        'stroke="#888888"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#888888"/>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(top * fraction) + 4:.1f}" text-anchor="end">'
            f"{escape(_label(top * fraction))}</text>"
        )
    for index in sorted({0, len(records) - 1}) if records else ():
        day = records[index].logical[:10]
        parts.append(
            f'<text x="{x(index):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">'
            f"{escape(day)}</text>"
        )
    for number, (step, line) in enumerate(zip(steps, values, strict=True)):
        colour = COLOURS[number % len(COLOURS)]
        points = [(x(i), y(v)) for i, v in enumerate(line) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        for px, py in points:
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{colour}"/>')
        legend_y = TOP + 14 * number + 8
        parts.append(
            f'<rect x="{LEFT + plot_w + 12}" y="{legend_y - 8}" width="10" height="10" '
            f'fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{LEFT + plot_w + 26}" y="{legend_y + 1}">{escape(step)}'
            f"<title>{escape(step)}</title></text>"
        )
    parts.append(
        f"<desc>{escape(f'{len(records)} runs, {len(steps)} steps')}</desc>"
        if records
        else f"<desc>{escape('no runs yet')}</desc>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _seconds(record: RunRecord, step_id: str) -> float | None:
    found = next((s for s in record.steps if s.id == step_id), None)
    return found.duration if found is not None else None


def _label(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
