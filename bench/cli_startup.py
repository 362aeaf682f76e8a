"""How long `payfacile` commands take from start to exit, as a user runs them.

Each command runs as its own process (the venv's `payfacile` script) on a fresh, migrated
SQLite database in a temporary directory, without Redis; a warm-up run first, then
`rounds` timed runs. Prints the median and the fastest run of each, in milliseconds, and
the bare interpreter's start for comparison. For hyperfine's figures on the same commands:

    hyperfine --warmup 2 '.venv/bin/payfacile --help' '.venv/bin/payfacile stores list'

    .venv/bin/python bench/cli_startup.py [rounds, default 10]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("payfacile")
COMMANDS = (
    ["--help"],
    ["stores", "list"],
    ["domains", "list"],
    ["certs", "list"],
)


def timed(argv: list[str], env: dict[str, str], rounds: int) -> list[float]:
    subprocess.run(argv, env=env, capture_output=True, check=True)  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with tempfile.TemporaryDirectory() as directory:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAYFACILE_")}
        env["PAYFACILE_DATA_DIR"] = directory
        subprocess.run([str(SCRIPT), "migrate"], env=env, capture_output=True, check=True)
        print(f"payfacile command start-up, {rounds} runs each after a warm-up (ms)")
        print(f"{'command':32} {'median':>8} {'fastest':>8}")
        rows = [("(python -c pass)", [sys.executable, "-c", "pass"])]
        rows += [(" ".join(args), [str(SCRIPT), *args]) for args in COMMANDS]
        for label, argv in rows:
            times = timed(argv, env, rounds)
            print(f"{label:32} {statistics.median(times):8.0f} {min(times):8.0f}", flush=True)


if __name__ == "__main__":
    main()
