"""Shared helpers for the benchmark and live-check scripts (stdlib only)."""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def shared_dir() -> pathlib.Path:
    env = os.environ.get("PYBUN_SHARED_DIR")
    path = pathlib.Path(env) if env else ROOT.parent / "shared"
    if not path.is_dir():
        sys.exit(f"skipping: shared material not found at {path} (set PYBUN_SHARED_DIR)")
    return path


def workloads() -> list[pathlib.Path]:
    base = shared_dir() / "workloads"
    return sorted(p for p in base.iterdir() if (p / "pyproject.toml").is_file())


def pybun_bin() -> str:
    path = os.environ.get("PYBUN") or str(ROOT / "target" / "release" / "pybun")
    path = str(pathlib.Path(path).resolve())
    if not pathlib.Path(path).exists():
        sys.exit(f"pybun binary not found at {path}: run `cargo build --release -p pybun-cli` or set PYBUN")
    return path


def uv_bin() -> str:
    path = os.environ.get("UV") or shutil.which("uv") or "/tmp/peers/bin/uv"
    if not pathlib.Path(path).exists():
        sys.exit("uv not found: `python3 -m venv /tmp/peers && /tmp/peers/bin/pip install uv`, or set UV")
    return path


def copy_project(src: pathlib.Path) -> pathlib.Path:
    dst = pathlib.Path(tempfile.mkdtemp(prefix=f"pybun-{src.name}-"))
    shutil.copy(src / "pyproject.toml", dst / "pyproject.toml")
    return dst


def run_wait4(cmd: list[str], cwd: pathlib.Path, env: dict) -> tuple[float, int, int, bytes]:
    """Run a command; return (seconds, peak RSS KiB of that process, exit code, stderr)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_maxrss, proc.returncode, stderr


def base_env() -> dict:
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYBUN_NO_PROGRESS"] = "1"
    env["NO_COLOR"] = "1"
    return env
