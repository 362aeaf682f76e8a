"""Where a server spends a case's time: py-spy samples of the live process, summed up.

`record(pid, seconds, out)` samples a running server with py-spy (`--format raw`: one line
per distinct stack, frames from the outermost, then the count) while a load runs; idle
threads (the event loop waiting in epoll) are not sampled, so shares are of busy time.
`summarize(path)` reads such a file back into three short tables:

- by area: the leaf frame's library (Quart, Werkzeug, Jinja2 with the compiled templates,
  Tortoise with pypika, asyncpg, redis, Uvicorn, asyncio, PayFacile's own code…), i.e. whose
  code the CPU was running;
- PayFacile's own functions by inclusive share: a step of the request flow and everything it
  called (each counted once per stack);
- the hottest leaf functions anywhere.

bench/suite.py runs this with `--profile` on one extra round per case (py-spy slows the
process it samples, so measured rounds are never profiled) and prints the summaries into
RESULTS.md; the raw files stay under the run's work directory. Figures, not tests.

    .venv/bin/python bench/profiles.py FILE   # summarize a raw py-spy file
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*?) \((?P<path>[^():]*?)(?::(?P<line>\d+))?\)$")
RATE = 250  # samples per second
# The leaf frame's path (py-spy shortens site-packages paths to the package) → area.
AREAS = (
    ("payfacile/", "PayFacile"),
    ("bench/", "PayFacile"),
    ("jinja2/", "Jinja2 (and compiled templates)"),
    ("markupsafe/", "Jinja2 (and compiled templates)"),
    ("quart/", "Quart"),
    ("flask/", "Quart"),
    ("werkzeug/", "Werkzeug"),
    ("blinker/", "Quart"),
    ("tortoise/", "Tortoise ORM (and pypika)"),
    ("pypika", "Tortoise ORM (and pypika)"),
    ("asyncpg/", "asyncpg"),
    ("aiosqlite/", "aiosqlite / sqlite3"),
    ("sqlite3/", "aiosqlite / sqlite3"),
    ("redis/", "redis"),
    ("uvicorn/", "Uvicorn (and httptools, h11)"),
    ("httptools/", "Uvicorn (and httptools, h11)"),
    ("h11/", "Uvicorn (and httptools, h11)"),
    ("asyncio/", "asyncio"),
    ("babel/", "Babel"),
)


# `payfacile serve` itself: under every sample of the main thread, so it says nothing.
ENTRY_POINTS = frozenset(
    {
        "main (payfacile/cli.py)",
        "cmd_serve (payfacile/cli.py)",
        "serve (payfacile/platform/server.py)",
        "_run_worker (payfacile/platform/server.py)",
    }
)


@dataclass(frozen=True)
class Frame:
    function: str
    path: str

    @property
    def name(self) -> str:
        return f"{self.function} ({self.path})"


def record(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """Start py-spy sampling `pid` for `seconds` into `out`; None when py-spy is missing.
    Wait on the returned process for the file."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        return None
    command = [py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds))]
    command += ["--rate", str(RATE), "--format", "raw", "--output", str(out), "--nonblocking"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stacks(path: Path) -> Iterator[tuple[list[Frame], int]]:
    for line in path.read_text(errors="replace").splitlines():
        body, _, count = line.rpartition(" ")
        if not count.isdigit() or not body:
            continue
        frames = []
        for part in body.split(";"):
            found = FRAME.match(part.strip())
            if found:
                frames.append(Frame(found["function"], found["path"]))
        if frames:
            yield frames, int(count)


def area_of(path: str) -> str:
    if path.endswith((".html", ".txt")):
        return "Jinja2 (and compiled templates)"
    for prefix, area in AREAS:
        if path.startswith(prefix) or f"/{prefix}" in path:
            return area
    return "Python's standard library and other" if path else "native code"


@dataclass
class Summary:
    samples: int
    areas: list[tuple[str, float]]
    own: list[tuple[str, float]]  # PayFacile functions, inclusive
    leaves: list[tuple[str, float]]


def summarize(path: Path, *, top: int = 12) -> Summary:
    areas: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for frames, count in stacks(path):
        total += count
        leaf = frames[-1]
        areas[area_of(leaf.path)] += count
        leaves[leaf.name] += count
        for name in {f.name for f in frames if f.path.startswith("payfacile/")} - ENTRY_POINTS:
            own[name] += count

    def shares(counter: collections.Counter[str], n: int) -> list[tuple[str, float]]:
        return [(name, count / total) for name, count in counter.most_common(n)] if total else []

    return Summary(total, shares(areas, len(areas)), shares(own, top), shares(leaves, top))


def as_markdown(title: str, summary: Summary) -> list[str]:
    """A case's summary as a few Markdown lines for RESULTS.md."""
    if not summary.samples:
        return [f"**{title}**: no samples."]

    def listed(items: list[tuple[str, float]]) -> str:
        return "; ".join(f"{name} {share:.0%}" for name, share in items if share >= 0.005)

    return [
        f"**{title}** ({summary.samples:,} samples at {RATE}/s, busy time only)",
        "",
        f"- by area: {listed(summary.areas)}",
        f"- PayFacile's functions, with what they call: {listed(summary.own)}",
        f"- hottest leaf functions: {listed(summary.leaves)}",
        "",
    ]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    print("\n".join(as_markdown(argv[0], summarize(Path(argv[0])))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
