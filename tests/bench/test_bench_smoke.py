"""``make bench`` plumbing: a part runs at a tiny size and writes the results file the issue specifies.

Figures at this size mean nothing; no time is asserted (issue 9: the benchmarks
measure, they do not pass or fail).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from bench.report import read, row, table, write


def test_a_row_is_its_value_against_its_baseline() -> None:
    assert row(3.0, "ms", 6.0, "x")["ratio"] == 0.5
    assert math.isnan(row(3.0, "ms", 0.0, "x")["ratio"])


def test_results_round_trip_through_json_with_missing_figures_as_null(tmp_path: Path) -> None:
    # Given a figure with no baseline (ratio nan)
    results = {"a": row(1.0, "s", 2.0, "b", target="<= 5 s", ok=True), "b": row(1.0, "s", 0.0, "c")}
    # When written and read back
    write(results, tmp_path / "r.json")
    # Then the file is strict JSON (null, not NaN) and the table shows every row
    assert json.loads((tmp_path / "r.json").read_text())["b"]["ratio"] is None
    assert read(tmp_path / "r.json")["a"] == results["a"]
    assert len(table(results).splitlines()) == 4


def test_bench_api_part_runs_tiny_and_writes_results_json(tmp_path: Path) -> None:
    # When the registry benchmark runs at its smoke size
    out = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "api", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    # Then every row has the shape, and the table was printed
    results = json.loads(out.read_text())
    assert {"api_stats_p99", "api_list_page_p99", "api_job_detail_p99", "clean_slowest_command"} <= set(
        results
    )
    for figure in results.values():
        assert {"value", "unit", "baseline", "ratio"} <= set(figure)
        assert figure["value"] >= 0
    assert "clean_slowest_command" in run.stdout.split("figures in")[-1]
