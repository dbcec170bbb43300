"""The storm's rule for one key's answers: identical, except an agent key answered anew after its
idempotency window (its run as it is then). Anything else that differs must fail the invariant."""

from __future__ import annotations

import json

import pytest

from tests.chaos.storm import Answer, OpRecord, _answered_anew_after_its_window

RUNNING = json.dumps({"runId": "run_a", "status": "running", "statusUrl": "/agent/runs/run_a"})
DONE = json.dumps({"runId": "run_a", "status": "completed", "output": "hi", "steps": []})


def record(kind: str, *answers: tuple[int, str, bool]) -> OpRecord:
    return OpRecord(kind, "t", "k", finals=[Answer(s, b, r) for s, b, r in answers])


def test_a_202_then_the_ended_run_answered_anew_is_allowed() -> None:
    assert _answered_anew_after_its_window(
        record("agent", (202, RUNNING, False), (202, RUNNING, True), (200, DONE, False))
    )


@pytest.mark.parametrize(
    "answers",
    [
        # the second answer claims to be a replay, yet differs: a replay that is not the stored one
        [(202, RUNNING, False), (200, DONE, True)],
        # another run for the same key
        [(202, RUNNING, False), (200, DONE.replace("run_a", "run_b"), False)],
        # two different ends of one run
        [(200, DONE, False), (200, DONE.replace("hi", "ho"), False)],
        # an error beside the run
        [(202, RUNNING, False), (422, json.dumps({"runId": "run_a"}), False)],
    ],
    ids=["differing replay", "second run", "two ends", "error"],
)
def test_other_differences_of_an_agent_key_are_not(answers: list[tuple[int, str, bool]]) -> None:
    assert not _answered_anew_after_its_window(record("agent", *answers))


def test_a_generate_or_transfer_key_never_differs() -> None:
    body = json.dumps({"runId": "run_a"})
    for kind in ("generate", "transfer"):
        assert not _answered_anew_after_its_window(
            record(kind, (202, RUNNING, False), (200, DONE, False))
        )
        assert not _answered_anew_after_its_window(record(kind, (200, body, False)))
