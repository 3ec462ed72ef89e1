"""What may run next: one decision per step from the states of the steps it needs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from helpers import write_manifest, write_notebook

from nbflow.engine.readiness import Decision, NeedState, Readiness, Upstream, Verdict, decide
from nbflow.manifest.load import load_manifest
from nbflow.manifest.model import Step, Workflow
from nbflow.plan import plan_run
from nbflow.run_record import StepRecord, StepStatus

CHAIN = """
name: chain
steps:
  - {id: a, notebook: n.ipynb}
  - {id: b, notebook: n.ipynb, needs: [a]}
  - {id: c, notebook: n.ipynb, needs: [b]}
  - {id: d, notebook: n.ipynb, needs: []}
"""


def chain(tmp_path: Path) -> Workflow:
    folder = tmp_path / "workflows" / "chain"
    write_notebook(folder / "n.ipynb", None, ["1"])
    return load_manifest(write_manifest(folder, CHAIN))


class Records:
    """The step records a run holds, changed as the runner's recorder would."""

    def __init__(self, workflow: Workflow, **statuses: StepStatus) -> None:
        self.steps = {
            s.id: StepRecord(s.id, status=statuses.get(s.id, StepStatus.PENDING), needs=s.needs)
            for s in workflow.steps
        }

    def get(self, step_id: str) -> StepRecord:
        return self.steps[step_id]

    def update(self, step: StepRecord) -> None:
        self.steps[step.id] = step


def readiness(workflow: Workflow, records: Records, steps: list[str] | None = None) -> Readiness:
    return Readiness(workflow, plan_run(workflow, steps), records.get, records.update)


def test_decide_runs_once_every_need_is_done_and_waits_before(tmp_path: Path) -> None:
    step = chain(tmp_path).step("c")
    done, waiting = Upstream("b", NeedState.DONE), Upstream("b", NeedState.WAITING)

    assert decide(step, [done]) == Decision(Verdict.RUN)
    assert decide(step, [waiting]) == Decision(Verdict.WAIT)
    assert decide(step, []) == Decision(Verdict.RUN)


def test_decide_skips_naming_the_first_stopped_need_even_while_others_wait(
    tmp_path: Path,
) -> None:
    step = chain(tmp_path).step("c")
    waiting = Upstream("x", NeedState.WAITING)
    failed = Upstream("y", NeedState.STOPPED, "y", StepStatus.FAILED)
    cancelled = Upstream("z", NeedState.STOPPED, "a", StepStatus.CANCELLED)

    assert decide(step, [waiting, failed, cancelled]) == Decision(
        Verdict.SKIP, "needs 'y', which failed"
    )
    assert decide(step, [cancelled, failed]) == Decision(Verdict.SKIP, "needs 'a', which cancelled")


def test_ready_steps_are_the_pending_ones_whose_needs_are_done(tmp_path: Path) -> None:
    workflow = chain(tmp_path)
    records = Records(workflow, a=StepStatus.SUCCEEDED)
    run = readiness(workflow, records)

    assert [s.id for s in run.ready(())] == ["b", "d"]
    assert [s.id for s in run.ready(["d"])] == ["b"]  # d is running already
    assert [s.id for s in run.soon(["b"])] == ["c", "d"]  # c once b finishes


def test_steps_settled_as_they_are_asked_make_their_dependants_ready_in_the_same_pass(
    tmp_path: Path,
) -> None:
    """The cache settles a and b (recorded done as it answers): c, after them in plan
    order, is asked next in the same call, so a cached chain needs one pass."""
    workflow = chain(tmp_path)
    records = Records(workflow)
    asked: list[str] = []

    def settle(step: Step) -> bool:
        asked.append(step.id)
        if step.id in ("a", "b"):
            records.update(replace(records.get(step.id), status=StepStatus.CACHED))
            return True
        return False

    assert [s.id for s in readiness(workflow, records).ready((), settle)] == ["c", "d"]
    assert asked == ["a", "b", "c", "d"]


def test_a_failure_skips_its_dependants_in_a_cascade_with_reasons(tmp_path: Path) -> None:
    workflow = chain(tmp_path)
    records = Records(workflow, a=StepStatus.FAILED)

    readiness(workflow, records).skip_dependants()

    assert {i: (s.status, s.reason) for i, s in records.steps.items()} == {
        "a": (StepStatus.FAILED, ""),
        "b": (StepStatus.SKIPPED, "needs 'a', which failed"),
        "c": (StepStatus.SKIPPED, "needs 'b', which skipped"),
        "d": (StepStatus.PENDING, ""),
    }


def test_a_step_not_selected_stands_for_the_steps_it_needs(tmp_path: Path) -> None:
    workflow = chain(tmp_path)  # a and c selected: b is not, and c needs it
    records = Records(workflow, b=StepStatus.SKIPPED)
    run = readiness(workflow, records, ["a", "c"])

    assert run.upstream("b") == Upstream("b", NeedState.WAITING)  # a runs first
    records.update(replace(records.get("a"), status=StepStatus.SUCCEEDED))
    assert [s.id for s in run.ready(())] == ["c"]
    run.undecided.add("b")  # whether b's earlier result stands in is not decided yet
    assert run.ready(()) == []
    records.update(replace(records.get("a"), status=StepStatus.FAILED))
    run.skip_dependants()
    assert records.get("c").reason == "needs 'a', which failed"  # through b, not selected
