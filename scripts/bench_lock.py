"""`just bench-lock`: pybun lock vs uv lock on each workload, cold and warm, side by side.

cold: empty cache for each run (network); warm: caches filled, `--offline`.
The lock file is removed before every run so both tools resolve from scratch.
Runs alternate between the tools (each goes first in every other run). Prints, per tool, the median wall time,
the median CPU time (user + sys, which the other work on a shared machine
disturbs less than wall time) and the peak RSS over all runs, and the
pybun/uv ratios of wall time and peak RSS.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

from common import base_env, copy_project, pybun_bin, uv_bin, workloads


def run_measured(cmd: list[str], cwd, env: dict) -> tuple[float, float, int, int, bytes]:
    """Run a command: (wall seconds, CPU seconds user+sys, peak RSS KiB, exit code, stderr)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, os.waitstatus_to_exitcode(status), stderr


def one(tool: str, project, cache: str, offline: bool) -> tuple[float, float, int]:
    env = base_env()
    for lock in ("pybun.lock", "pybun.lockb", "uv.lock"):
        (project / lock).unlink(missing_ok=True)
    if tool == "pybun":
        cmd = [pybun_bin(), "--cache-dir", cache, "lock"] + (["--offline"] if offline else [])
    else:
        env["UV_CACHE_DIR"] = cache
        cmd = [uv_bin(), "lock", "--no-progress"] + (["--offline"] if offline else [])
    seconds, cpu, rss, code, stderr = run_measured(cmd, project, env)
    if code != 0:
        raise SystemExit(f"{tool} failed in {project}:\n{stderr.decode(errors='replace')}")
    return seconds, cpu, rss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--modes", default="cold,warm")
    parser.add_argument("--workloads", default="", help="comma-separated workload names (default: all)")
    args = parser.parse_args()
    selected = {name for name in args.workloads.split(",") if name}
    print("PYTHONDONTWRITEBYTECODE=1 for both tools; lock file removed before every run; medians of", args.runs)
    print(
        f"{'workload':<14} {'mode':<5} {'pybun s':>8} {'uv s':>8} {'ratio':>6} "
        f"{'pybun cpu':>9} {'uv cpu':>7} {'pybun MiB':>10} {'uv MiB':>8} {'rss ratio':>9}"
    )
    for workload in workloads():
        if selected and workload.name not in selected:
            continue
        project = copy_project(workload)
        for mode in args.modes.split(","):
            wall = {"pybun": [], "uv": []}
            cpu = {"pybun": [], "uv": []}
            rss = {"pybun": 0, "uv": 0}
            caches = {t: tempfile.mkdtemp(prefix=f"bench-{t}-cache-") for t in wall}
            if mode == "warm":
                for tool in wall:
                    one(tool, project, caches[tool], offline=False)
            for run in range(args.runs):
                # Interleaved, so both see the same network conditions, and each tool goes
                # first in every other run (a caching proxy on the way favours the second).
                for tool in (("pybun", "uv") if run % 2 == 0 else ("uv", "pybun")):
                    if mode == "cold":
                        shutil.rmtree(caches[tool], ignore_errors=True)
                    seconds, cpu_seconds, peak = one(tool, project, caches[tool], offline=(mode == "warm"))
                    wall[tool].append(seconds)
                    cpu[tool].append(cpu_seconds)
                    rss[tool] = max(rss[tool], peak)
            pybun = statistics.median(wall["pybun"])
            uv = statistics.median(wall["uv"])
            print(
                f"{workload.name:<14} {mode:<5} {pybun:>8.3f} {uv:>8.3f} {pybun / uv:>6.2f} "
                f"{statistics.median(cpu['pybun']):>9.3f} {statistics.median(cpu['uv']):>7.3f} "
                f"{rss['pybun'] / 1024:>10.1f} {rss['uv'] / 1024:>8.1f} {rss['pybun'] / rss['uv']:>9.2f}",
                flush=True,
            )
            for cache in caches.values():
                shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(project, ignore_errors=True)


if __name__ == "__main__":
    main()
