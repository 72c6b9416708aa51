"""`just bench-sync`: pybun sync vs uv sync on each workload, side by side.

Three modes, interleaved run by run so both tools see the same conditions:
  fresh-venv  warm cache, no `.venv` before each run (the "second install")
  no-op       an environment already in sync
  cold        empty cache and no venv (network)
Each tool works in its own copy of the project and locks it once first
(`pybun lock` / `uv lock`), so the sync runs measure installation, not
resolution. Both use the same interpreter (`--python`), hardlink-or-clone
defaults, and PYTHONDONTWRITEBYTECODE=1, no bytecode compilation.

Removing the previous venv: by default it is moved aside (into a directory
deleted at the end), not deleted right before the run. Deleting thousands of
directories just before makes ext4 without a journal (as on this machine)
skip every recently freed inode on each following `mkdir`, reading the inode
table for each (`recently_deleted()`): then both tools spend most of their
time there, more with every run, whichever tool runs, and the figures measure
the filesystem's history rather than the installers. `--delete-venv` restores
`rm -rf .venv` before each run. For the same reason the cold runs move the
old cache aside, and each workload's project copies and caches are moved
aside too when it is done: everything is deleted at the very end. That
deletion (gigabytes of small files) slows the next few minutes down in turn:
ext4 treats an inode freed less than 60 s ago (360 s while its inode-table
block is dirty) as recently deleted. So the end of a run is recorded
(`$TMPDIR/pybun-bench-sync-deleted-at`), and a run started sooner waits until
6 minutes have passed (`--no-settle` does not wait, and says so). Any other
mass deletion shortly before a run (an `rm -rf` of old caches or build
directories) has the same effect and the script cannot see it; nor is it
fair: whichever tool's new directories land in the block groups of the freed
inodes pays (once here, 1.76 for data-science cold, five minutes after
deleting 20 GB of old benchmark caches, against 0.93-1.02 before and after).

What a cold run moved aside (its venv and cache, hundreds of megabytes
each time) is also dropped from the page cache (`posix_fadvise(DONTNEED)`,
after `sync`): kept there, it fills the machine's memory run after run, and
on this VM a fresh page then costs about four times as much to fault in
(touching 1 GiB: 0.6 s with the page cache small, 2.4-3.0 s with 10-16 GB of
old runs in it; both tools' cold data-science syncs went from about 0.75 s
to 1.2 s, their system time from about 0.5 s to 1.4 s). Dropping is not
deleting: ext4's inode allocation is not disturbed.

Prints, per tool, the median wall time, the median CPU time (user + sys:
less disturbed by other work on a shared machine) and the peak RSS over all
runs, and the pybun/uv ratios of wall time, CPU time and peak RSS, with the
load average at the start and the end (figures taken while others compile
are noisy: compare the CPU ratio too).
"""

import argparse
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from common import base_env, copy_project, pybun_bin, uv_bin, workloads


def sync_cmd(tool: str, cache: str, python: str) -> tuple[list[str], dict]:
    env = base_env()
    if tool == "pybun":
        return [pybun_bin(), "--cache-dir", cache, "sync", "--python", python], env
    env["UV_CACHE_DIR"] = cache
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return [uv_bin(), "sync", "--no-progress", "--python", python], env


def lock_cmd(tool: str, cache: str) -> tuple[list[str], dict]:
    env = base_env()
    if tool == "pybun":
        return [pybun_bin(), "--cache-dir", cache, "lock"], env
    env["UV_CACHE_DIR"] = cache
    return [uv_bin(), "lock", "--no-progress"], env


def run(cmd, env, project) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds user+sys, peak RSS KiB) of one run.

    Dirty pages are flushed first (`sync`): a cold install writes hundreds
    of megabytes, and without this the kernel's writeback of earlier runs
    (either tool's) lands in whichever run comes next.
    """
    os.sync()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[0]} failed in {project}:\n{stderr.decode(errors='replace')}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--python", default=shutil.which("python3") and sys.executable)
    parser.add_argument("--modes", default="fresh-venv,no-op,cold")
    parser.add_argument("--delete-venv", action="store_true", help="rm -rf .venv before each run instead of moving it aside")
    parser.add_argument("--no-settle", action="store_true", help="do not wait out the previous run's deletion")
    args = parser.parse_args()
    settle(args.no_settle)
    python = args.python
    modes = args.modes.split(",")
    removal = "deleted" if args.delete_venv else "moved aside"
    print(f"PYTHONDONTWRITEBYTECODE=1 for both tools; interpreter {python}; lock made once per tool first; "
          f"old venv {removal} before each run; medians of {args.runs}")
    print(
        f"{'workload':<14} {'mode':<10} {'pybun s':>8} {'uv s':>8} {'ratio':>6} "
        f"{'pybun cpu':>9} {'uv cpu':>7} {'cpu ratio':>9} {'pybun MiB':>10} {'uv MiB':>8} {'rss ratio':>9}"
    )
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    trash = tempfile.mkdtemp(prefix="bench-sync-old-venvs-")

    def discard(path, deleting: bool, evict: bool = False) -> None:
        if deleting:
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            aside = os.path.join(trash, f"{time.time_ns()}")
            os.rename(path, aside)
            if evict:
                evict_page_cache(aside)

    for workload in workloads():
        projects = {t: copy_project(workload) for t in ("pybun", "uv")}
        caches = {t: tempfile.mkdtemp(prefix=f"bench-sync-{t}-cache-") for t in projects}
        for tool in projects:
            cmd, env = lock_cmd(tool, caches[tool])
            run(cmd, env, projects[tool])
        for mode in modes:
            wall = {"pybun": [], "uv": []}
            cpu = {"pybun": [], "uv": []}
            rss = {"pybun": 0, "uv": 0}
            if mode in ("fresh-venv", "no-op"):
                for tool in projects:  # fill the cache (and the venv)
                    cmd, env = sync_cmd(tool, caches[tool], python)
                    run(cmd, env, projects[tool])
            for run_index in range(args.runs):
                # Each tool goes first in every other run: a caching proxy on the way (cold)
                # or the page cache and the filesystem's recent history favour the second.
                for tool in (("pybun", "uv") if run_index % 2 == 0 else ("uv", "pybun")):
                    project = projects[tool]
                    if mode in ("fresh-venv", "cold"):
                        discard(project / ".venv", args.delete_venv, evict=mode == "cold")
                    if mode == "cold":
                        discard(caches[tool], args.delete_venv, evict=True)
                    cmd, env = sync_cmd(tool, caches[tool], python)
                    seconds, cpu_seconds, peak = run(cmd, env, project)
                    wall[tool].append(seconds)
                    cpu[tool].append(cpu_seconds)
                    rss[tool] = max(rss[tool], peak)
            pybun = statistics.median(wall["pybun"])
            uv = statistics.median(wall["uv"])
            pybun_cpu = statistics.median(cpu["pybun"])
            uv_cpu = statistics.median(cpu["uv"])
            print(
                f"{workload.name:<14} {mode:<10} {pybun:>8.3f} {uv:>8.3f} {pybun / uv:>6.2f} "
                f"{pybun_cpu:>9.3f} {uv_cpu:>7.3f} {pybun_cpu / uv_cpu:>9.2f} "
                f"{rss['pybun'] / 1024:>10.1f} {rss['uv'] / 1024:>8.1f} {rss['pybun'] / rss['uv']:>9.2f}",
                flush=True,
            )
        for path in list(projects.values()) + list(caches.values()):
            discard(path, args.delete_venv, evict=True)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    shutil.rmtree(trash, ignore_errors=True)
    DELETED_AT.write_text(f"{time.time()}\n")


def evict_page_cache(root: str) -> None:
    """Drop the cached pages of every file under `root` (moved aside, never
    read again) from the page cache, after writing them out: see the module
    docs."""
    os.sync()
    for directory, _, files in os.walk(root):
        for name in files:
            try:
                fd = os.open(os.path.join(directory, name), os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


# When the last run deleted what it made (see the module docs).
DELETED_AT = pathlib.Path(tempfile.gettempdir()) / "pybun-bench-sync-deleted-at"
SETTLE_SECONDS = 360


def settle(no_wait: bool) -> None:
    try:
        since = time.time() - float(DELETED_AT.read_text())
    except (OSError, ValueError):
        return
    left = SETTLE_SECONDS - since
    if left <= 0:
        return
    if no_wait:
        print(f"note: the previous run deleted its files {since:.0f} s ago; "
              "ext4 may still skip those inodes (figures may be slow for both tools)", flush=True)
        return
    print(f"waiting {left:.0f} s: the previous run deleted its files {since:.0f} s ago (--no-settle skips this)", flush=True)
    time.sleep(left)


if __name__ == "__main__":
    main()
