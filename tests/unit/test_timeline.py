"""bench/timeline.py: the CPU a run's jobs logged, per window of the run, as a share of the cores."""

import subprocess
import sys

from workflow_helpers import REPO


def write_log(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def test_each_job_s_logged_cpu_counts_in_the_window_where_it_ended(tmp_path):
    # A run that starts at 23:59:00: a training ends in its first minute, a retried job's two attempts end in the
    # first and (past midnight) the third minute, and nothing ends in the second; a grid that starts after midnight
    # (its log sorts first) ends in the fourth.
    write_log(tmp_path / "logs/train/dog/lora.log", [
        "[23:59:00] === 2026-12-07 rule train {'concept': 'dog'} with 1 thread(s), 0.05 s after the process started",
        "[23:59:50] used 90.0 s of CPU, at most 600 MB resident"])
    write_log(tmp_path / "logs/metrics/dog/lora.log", [
        "[23:59:10] === 2026-12-07 rule metrics",
        "[23:59:40] used 6.0 s of CPU, at most 500 MB resident",
        "[00:01:30] === 2026-12-08 rule metrics",
        "[00:01:40] used 12.0 s of CPU, at most 500 MB resident"])
    write_log(tmp_path / "logs/grid/dog.log", [
        "[00:02:05] === 2026-12-08 rule grid", "[00:02:10] used 3.0 s of CPU, at most 300 MB resident"])
    out = subprocess.run([sys.executable, str(REPO / "bench" / "timeline.py"), str(tmp_path), "--cores", "2",
                          "--minutes", "1"], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[1].split() == ["0-1", "2", "96s", "80.0%", "metrics", "1,", "train", "1"]  # (90 + 6) / 120
    assert out[2].split() == ["2-3", "1", "12s", "10.0%", "metrics", "1"]
    assert out[3].split() == ["3-4", "1", "3s", "2.5%", "grid", "1"]
    assert len(out) == 5 and out[4] == "all: 4 job attempts logged 1.9 CPU-minutes"


def test_a_folder_without_job_logs_is_an_error_naming_it(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "bench" / "timeline.py"), str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and str(tmp_path / "logs") in done.stderr
