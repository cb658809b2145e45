"""ObjectIds sort by creation: within a process, and across processes within one second (the operator's CLI beside a
server: a secret `atlas-sa secrets rotate` makes must sort after the one the server made a moment before)."""

from __future__ import annotations

import subprocess
import sys

from atlas_sa.kit.ids import is_object_id, new_object_id

# One second for every id below, as a frozen clock gives it: only the bytes after the seconds can order them.
SECOND = 1_800_000_000
MADE_IN_A_CHILD = f"from atlas_sa.kit.ids import new_object_id; print(new_object_id({SECOND}))"


def test_ids_of_one_second_from_one_process_sort_by_creation_and_are_distinct() -> None:
    made = [new_object_id(SECOND) for _ in range(10_000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert all(is_object_id(i) and i.startswith(f"{SECOND:08x}") for i in made)


def test_ids_of_one_second_from_processes_run_one_after_another_sort_by_creation() -> None:
    # Before: 5 random bytes per process after the seconds, so these sorted at random (1 chance in 720 of passing).
    made = [new_object_id(SECOND)]
    for _ in range(5):
        child = subprocess.run([sys.executable, "-c", MADE_IN_A_CHILD], capture_output=True, text=True, check=True)
        made.append(child.stdout.strip())
    made.append(new_object_id(SECOND))
    assert made == sorted(made)
    assert len(set(made)) == len(made)
