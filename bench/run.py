"""The `make bench` entry point: run every bench/bench_*.py as a subprocess and print one summary table.

    .venv/bin/python bench/run.py --small            # quick scale (what `make bench` runs)
    .venv/bin/python bench/run.py --contacts 1000000 # big scale, passed on as --contacts N
    .venv/bin/python bench/run.py --small --only engine

Contract for a benchmark module `bench/bench_<name>.py`: it accepts `--small` (a quick scale
of its own choosing) and, for database benchmarks, `--contacts N`; it prints whatever it
likes and, as its last word, one line `RESULT {json}` whose keys ending in `_s` / `_ms` are
timings. A module without `--small` support or without a RESULT line is still run and
reported (status and wall time), never silently skipped.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


def _result(output: str) -> dict | None:
    for line in reversed(output.splitlines()):
        if line.startswith("RESULT "):
            try:
                return json.loads(line[len("RESULT ") :])
            except json.JSONDecodeError:
                return None
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--small", action="store_true", help="quick scale of every benchmark")
    scale.add_argument("--contacts", type=int, help="big scale: contacts for the database benchmarks")
    parser.add_argument("--only", action="append", default=[], help="run only bench_<name>.py (repeatable)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per benchmark")
    args = parser.parse_args()

    modules = sorted(BENCH.glob("bench_*.py"))
    if args.only:
        modules = [m for m in modules if m.stem.removeprefix("bench_") in args.only]
    if not modules:
        print("no benchmark modules found")
        return 1
    extra = ["--small"] if args.small or not args.contacts else ["--contacts", str(args.contacts)]
    summary = []
    for module in modules:
        name = module.stem.removeprefix("bench_")
        command = [sys.executable, str(module), *extra]
        print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        try:
            proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=args.timeout)
            output, code = proc.stdout + proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:
            output, code = (exc.stdout or "") if isinstance(exc.stdout, str) else "", "timeout"
        wall = time.perf_counter() - started
        tail = [line for line in output.splitlines() if not line.startswith("Task ")]
        print("\n".join(tail[-30:]))
        result = _result(output)
        if code == 2 and "--small" in output and "unrecognized arguments" in output:
            status = "no --small support"
        else:
            status = "ok" if code == 0 else f"failed ({code})"
        summary.append((name, status, wall, result))

    print("\n=== summary")
    print(f"{'benchmark':<14} {'status':<20} {'wall s':>8}  timings")
    failed = False
    for name, status, wall, result in summary:
        timings = ""
        if result:
            timings = ", ".join(
                f"{k}={v}" for k, v in result.items() if (k.endswith("_s") or k.endswith("_ms")) and v is not None
            )
        print(f"{name:<14} {status:<20} {wall:>8.1f}  {timings}")
        failed = failed or status.startswith("failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
