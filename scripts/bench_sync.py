"""`just bench-sync`: pybun sync vs uv sync on each workload, side by side.

Three modes, interleaved run by run so both tools see the same conditions:
  fresh-venv  warm cache, `rm -rf .venv` before each run (the "second install")
  no-op       an environment already in sync
  cold        empty cache and no venv (network)
Each tool works in its own copy of the project and locks it once first
(`pybun lock` / `uv lock`), so the sync runs measure installation, not
resolution. Both use the same interpreter (`--python`), hardlink-or-clone
defaults, and PYTHONDONTWRITEBYTECODE=1, no bytecode compilation.
Prints medians, the pybun/uv ratio and peak RSS.
"""

import argparse
import shutil
import statistics
import sys
import tempfile

from common import base_env, copy_project, pybun_bin, run_wait4, uv_bin, workloads


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


def run(cmd, env, project) -> tuple[float, int]:
    seconds, rss, code, stderr = run_wait4(cmd, project, env)
    if code != 0:
        raise SystemExit(f"{cmd[0]} failed in {project}:\n{stderr.decode(errors='replace')}")
    return seconds, rss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--python", default=shutil.which("python3") and sys.executable)
    parser.add_argument("--modes", default="fresh-venv,no-op,cold")
    args = parser.parse_args()
    python = args.python
    modes = args.modes.split(",")
    print(f"PYTHONDONTWRITEBYTECODE=1 for both tools; interpreter {python}; lock made once per tool first")
    print(f"{'workload':<14} {'mode':<10} {'pybun s':>8} {'uv s':>8} {'ratio':>6} {'pybun MiB':>10} {'uv MiB':>8}")
    for workload in workloads():
        projects = {t: copy_project(workload) for t in ("pybun", "uv")}
        caches = {t: tempfile.mkdtemp(prefix=f"bench-sync-{t}-cache-") for t in projects}
        for tool in projects:
            cmd, env = lock_cmd(tool, caches[tool])
            run(cmd, env, projects[tool])
        for mode in modes:
            results = {"pybun": [], "uv": []}
            rss = {"pybun": 0, "uv": 0}
            if mode in ("fresh-venv", "no-op"):
                for tool in projects:  # fill the cache (and the venv)
                    cmd, env = sync_cmd(tool, caches[tool], python)
                    run(cmd, env, projects[tool])
            for _ in range(args.runs):
                for tool in projects:
                    project = projects[tool]
                    if mode in ("fresh-venv", "cold"):
                        shutil.rmtree(project / ".venv", ignore_errors=True)
                    if mode == "cold":
                        shutil.rmtree(caches[tool], ignore_errors=True)
                    cmd, env = sync_cmd(tool, caches[tool], python)
                    seconds, peak = run(cmd, env, project)
                    results[tool].append(seconds)
                    rss[tool] = max(rss[tool], peak)
            pybun = statistics.median(results["pybun"])
            uv = statistics.median(results["uv"])
            print(
                f"{workload.name:<14} {mode:<10} {pybun:>8.3f} {uv:>8.3f} {pybun / uv:>6.2f} "
                f"{rss['pybun'] / 1024:>10.1f} {rss['uv'] / 1024:>8.1f}",
                flush=True,
            )
        for path in list(projects.values()) + list(caches.values()):
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
