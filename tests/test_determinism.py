"""What nbflow writes for people and for Git (reports, graphs, generated workflow
files, run records) is the same in every process: no order that depends on Python's
string hash seed, which changes between processes unless PYTHONHASHSEED is set.

Rendering three times in one process cannot catch that (the seed is fixed for the
process), so each rendering here runs in its own interpreter with its own seed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers import copy_examples

GOLDEN_RECORD = Path(__file__).parent / "golden" / "run_record.json"

RENDER = """
import json, sys
from pathlib import Path
from nbflow.github.workflows import generate_ci
from nbflow.report.graph import render_record_graph
from nbflow.report.run_report import render_report
from nbflow.run_record import RunRecord

record = RunRecord.from_json(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))
files = generate_ci(Path(sys.argv[2]))
print(json.dumps({
    "report": render_report(record),
    "graphs": [render_record_graph(record, fmt) for fmt in ("mermaid", "dot", "text")],
    "record": json.dumps(record.to_json(), indent=2),
    "ci": {str(path): text for path, text in sorted(files.items())},
}))
"""


def render_with_seed(seed: int, project: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    out = subprocess.run(
        [sys.executable, "-c", RENDER, str(GOLDEN_RECORD), str(project)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rendered: dict[str, object] = json.loads(out)
    return rendered


def test_renderings_do_not_depend_on_the_hash_seed(project: Path) -> None:
    copy_examples(project)
    first, *others = [render_with_seed(seed, project) for seed in (0, 1, 2)]
    assert first["ci"], "the examples generate workflow files"
    for other in others:
        assert other == first
