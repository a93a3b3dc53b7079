"""The bench's child processes: ``python -m inception_v2.bench.worker JOB JSON``.

A Keras backend is fixed when Keras is imported, and a process's peak memory is its own
only from its start, so these two measurements run in a fresh interpreter each:

- ``backend``: ``speed.bench_backend`` under ``KERAS_BACKEND``; prints its JSON result.
- ``eval-memory``: the ``inception-v2 eval`` command with the given arguments; prints the
  process's peak resident memory (``VmHWM``, kB) as JSON. Not getrusage's ``ru_maxrss``,
  which Linux carries across exec from the parent (the bench, holding many models).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _peak_rss_kib() -> int:
    status = Path("/proc/self/status").read_text().splitlines()
    return int(next(s for s in status if s.startswith("VmHWM")).split()[1])


def main(argv: list[str]) -> int:
    """Run one job; its result is the last line of stdout (JSON).

    Args:
        argv: ``[job, json_arguments]`` (see the module's docstring).

    Returns:
        The exit status: the eval command's, or 0.
    """
    job, arguments = argv[0], json.loads(argv[1])
    if job == "backend":
        from inception_v2.bench.speed import bench_backend

        print(json.dumps(bench_backend(**arguments)))
        return 0
    if job == "eval-memory":
        from inception_v2.cli import main as command

        status = command(arguments)
        print(json.dumps({"peak_rss_kib": _peak_rss_kib()}))
        return status
    raise SystemExit(f"bench_worker: unknown job {job!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
