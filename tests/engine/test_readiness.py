"""What may run next: one decision per step from the states of the steps it needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
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


class ToldRecords(Records):
    """Records that tell their watchers of each change, as the runner's recorder does,
    and count how many records readiness reads."""

    def __init__(self, workflow: Workflow, **statuses: StepStatus) -> None:
        super().__init__(workflow, **statuses)
        self.watchers: list[Callable[[str], None]] = []
        self.reads = 0

    def get(self, step_id: str) -> StepRecord:
        self.reads += 1
        return super().get(step_id)

    def update(self, step: StepRecord) -> None:
        super().update(step)
        for watcher in self.watchers:
            watcher(step.id)

    def watch(self, watcher: Callable[[str], None]) -> None:
        self.watchers.append(watcher)


RULES = """
name: rules
steps:
  - {id: a, notebook: n.ipynb}
  - {id: b, notebook: n.ipynb, needs: [a]}
  - {id: c, notebook: n.ipynb, needs: [b]}
  - {id: d, notebook: n.ipynb, needs: [c], run_if: all_done}
  - {id: e, notebook: n.ipynb, needs: [c, a], run_if: any_failed}
  - {id: f, notebook: n.ipynb, needs: [a]}
  - {id: g, notebook: n.ipynb, needs: [f, d], run_if: none_failed}
  - {id: h, notebook: n.ipynb, needs: [g]}
  - {id: i, notebook: n.ipynb, needs: [f]}
  - {id: j, notebook: n.ipynb, needs: [e, i], run_if: all_done}
"""


def _run_through(run: Readiness, records: Records, failing: set[str]) -> dict[str, tuple]:
    """Execute the steps ``run`` makes ready one at a time, as the runner does with one
    worker (those in ``failing`` fail); every step's final status and reason."""
    while True:
        run.skip_dependants()
        ready = run.ready(())
        if not ready:
            return {i: (s.status, s.reason) for i, s in records.steps.items()}
        step_id = ready[0].id
        records.update(replace(records.get(step_id), status=StepStatus.RUNNING))
        status = StepStatus.FAILED if step_id in failing else StepStatus.SUCCEEDED
        records.update(replace(records.get(step_id), status=status))


@pytest.mark.parametrize("told", [False, True], ids=["records compared", "changes told"])
def test_decisions_told_of_changes_are_those_made_comparing_every_record(
    tmp_path: Path, told: bool
) -> None:
    """Trigger rules, a failure, a step not selected (f) standing for its needs: told
    each change (the runner), readiness decides only the dependants of the steps that
    changed, and decides them as when it compared every record on every pass."""
    folder = tmp_path / "workflows" / "rules"
    write_notebook(folder / "n.ipynb", None, ["1"])
    workflow = load_manifest(write_manifest(folder, RULES))
    records = (ToldRecords if told else Records)(workflow, f=StepStatus.SKIPPED)
    selected = [s.id for s in workflow.steps if s.id != "f"]
    plan = plan_run(workflow, selected)
    watch = records.watch if isinstance(records, ToldRecords) else None
    run = Readiness(workflow, plan, records.get, records.update, watch)

    assert _run_through(run, records, failing={"b"}) == {
        "a": (StepStatus.SUCCEEDED, ""),
        "b": (StepStatus.FAILED, ""),
        "c": (StepStatus.SKIPPED, "needs 'b', which failed"),
        "d": (
            StepStatus.SUCCEEDED,
            "run_if all_done: every step it needs is done; 'c' skipped after a failure",
        ),
        "e": (StepStatus.SUCCEEDED, "run_if any_failed: 'c' skipped after a failure"),
        "f": (StepStatus.SKIPPED, ""),
        "g": (StepStatus.SUCCEEDED, "run_if none_failed: none failed"),
        "h": (StepStatus.SUCCEEDED, ""),
        "i": (StepStatus.SUCCEEDED, ""),
        "j": (StepStatus.SUCCEEDED, "run_if all_done: every step it needs is done"),
    }


def test_told_of_changes_a_step_costs_its_dependants_not_every_pending_step(
    tmp_path: Path,
) -> None:
    """Over a 60-step chain, the records read to go from one executed step to the next
    are as few at the chain's start (59 steps pending) as at its end (none): readiness
    asks about the dependants of the step that changed, not every pending step."""
    folder = tmp_path / "workflows" / "long"
    write_notebook(folder / "n.ipynb", None, ["1"])
    steps = "".join(
        f"  - {{id: s{i}, notebook: n.ipynb, needs: [{f's{i - 1}' if i else ''}]}}\n"
        for i in range(60)
    )
    workflow = load_manifest(write_manifest(folder, f"name: long\nsteps:\n{steps}"))
    records = ToldRecords(workflow)
    run = Readiness(workflow, plan_run(workflow), records.get, records.update, records.watch)
    reads = []
    while ready := run.ready(()):
        records.reads = 0
        (step,) = ready
        records.update(replace(records.get(step.id), status=StepStatus.RUNNING))
        records.update(replace(records.get(step.id), status=StepStatus.SUCCEEDED))
        run.skip_dependants()
        run.ready(())  # as the runner asks next
        reads.append(records.reads)

    assert len(reads) == 60
    assert all(s.status is StepStatus.SUCCEEDED for s in records.steps.values())
    assert max(reads) <= 12, reads  # a handful each, from the first step to the last
    assert reads[0] == reads[30] == reads[-2], reads
