"""Print each handler's mutation score from its cosmic-ray session (mutation/<handler>.sqlite) and name survivors.

Usage: .venv/bin/python mutation/report.py HANDLER [HANDLER ...]; exits 1 when a session is missing or unfinished.
"""

import sys
from pathlib import Path

from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome

SESSIONS = Path(__file__).resolve().parent


def survivor_line(work_item, diff: str) -> str:
    [mutation] = work_item.mutations
    changed = next(
        (line[1:].strip() for line in diff.splitlines() if line[:1] == "+" and line[:3] != "+++"), ""
    )
    return f"{mutation.module_path}:{mutation.start_pos[0]} {mutation.operator_name}: {changed}"


def report(handler: str) -> bool:
    session = SESSIONS / f"{handler}.sqlite"
    if not session.exists():
        print(f"{handler}: no session {session} (run make mutate HANDLERS={handler})")
        return False
    with use_db(str(session), WorkDB.Mode.open) as db:
        total = db.num_work_items
        done = db.completed_work_items
    outcomes = [result.test_outcome for _, result in done]
    killed = outcomes.count(TestOutcome.KILLED)
    survivors = sorted(
        survivor_line(item, result.diff or "")
        for item, result in done
        if result.test_outcome == TestOutcome.SURVIVED
    )
    # Incompetent: cosmic-ray could not make the mutant (mutation/README.md), so it is out of the score.
    made = killed + len(survivors)
    score = 100 * killed / made if made else 0.0
    incompetent = f", {len(done) - made} not made (incompetent)" if len(done) > made else ""
    unfinished = f", {total - len(done)} not run" if len(done) < total else ""
    print(
        f"{handler}: {score:.1f}% killed ({killed} / {made}), {len(survivors)} survived{incompetent}{unfinished}"
    )
    for line in survivors:
        print(f"  survived {line}")
    return len(done) == total


if __name__ == "__main__":
    handlers = sys.argv[1:]
    if not handlers:
        sys.exit(__doc__)
    complete = [report(handler) for handler in handlers]
    sys.exit(0 if all(complete) else 1)
