"""Running the planned recipe runs: one subprocess each, ``jobs`` at a time.

A run already done with the same command is reused (resume), and runs that
may fill the same cache entry (the corpus, the original, the reference of a
task and seed) wait for each other (locks).
"""

import concurrent.futures
import os
import subprocess
import sys
import time

from tqdm import tqdm

from speechbrain_unlearn.benchmark.common import COMMAND, LOG, RESULTS, ROOT, STATUS
from speechbrain_unlearn.io import write_json, write_text


def last_line(path):
    """The last non-empty line of a text file (``""`` if there is none)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = [line.strip() for line in fh.read()[-20000:].splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def run_one(run):
    """Run the recipe of ``run`` in a subprocess; return its status and message.

    The previous results of the folder are removed first, so that a failed
    rerun never leaves stale results to be aggregated.
    """
    os.makedirs(run.folder, exist_ok=True)
    for name in (RESULTS, STATUS):
        if os.path.exists(run.path(name)):
            os.remove(run.path(name))
    write_text(run.path(COMMAND), run.command + "\n")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    start = time.time()
    # The recipe's own logger appends to log.txt too: append, never truncate.
    with open(run.path(LOG), "a", encoding="utf-8") as log:
        log.write(f"# benchmark, {time.strftime('%Y-%m-%d %H:%M:%S')}: {run.command}\n")
        log.flush()
        try:
            code = subprocess.run(
                run.argv(sys.executable), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env, check=False
            ).returncode
        except OSError as err:
            code, message = -1, f"could not start the recipe: {err}"
    if code == 0 and os.path.exists(run.path(RESULTS)):
        status, message = "ok", ""
    elif code == 0:
        status, message = "failed", f"exit status 0 but no {RESULTS}"
    else:
        status = "failed"
        message = last_line(run.path(LOG)) if code != -1 else message
        message = message or f"exit status {code}"
    record = {"command": run.command, "status": status, "returncode": code, "message": message}
    write_json(run.path(STATUS), {**record, "wall_s": round(time.time() - start, 3)})
    return status, message


def execute(runs, jobs=1, progress=True):
    """Run every pending run of ``runs`` (``jobs`` at a time); set their status and message.

    A run already done with the same command is reused. A run may start
    when, for each cache entry it may fill (its ``locks``), the entry is
    filled (a run holding it succeeded) or no running run holds it; so the
    first run of a (task, seed) trains the original alone, the first of a
    (task, scenario, seed) the reference, and the methods of a group run in
    parallel after it.
    """
    filled, held = set(), set()
    todo = []
    for run in runs:
        if run.status != "pending":
            continue
        if run.done_before():
            run.status, run.reused = "ok", True
            filled.update(run.locks)
        else:
            todo.append(run)
    # disable=None: no bar when stderr is not a terminal
    bar = tqdm(
        total=len(runs), initial=len(runs) - len(todo), unit="run", desc="benchmark", disable=None if progress else True
    )
    running = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        while todo or running:
            while len(running) < jobs:
                ready = next((r for r in todo if all(k in filled or k not in held for k in r.locks)), None)
                if ready is None:
                    break
                todo.remove(ready)
                held.update(k for k in ready.locks if k not in filled)
                running[pool.submit(run_one, ready)] = ready
                bar.set_postfix_str(", ".join(r.name for r in running.values()))
            done, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                run = running.pop(future)
                run.status, run.message = future.result()
                held.difference_update(run.locks)
                if run.status == "ok":
                    filled.update(run.locks)
                else:
                    bar.write(f"failed: {run.name}: {run.message}")
                bar.set_postfix_str(", ".join(r.name for r in running.values()))
                bar.update(1)
    bar.close()
    return runs
