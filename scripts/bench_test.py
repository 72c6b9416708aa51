"""`just bench-test`: pybun test vs pytest vs pytest -n 2 on a generated suite
and on real suites from PyPI sdists (`bench_test_suites.py`), plus collection
with a cold and a warm discovery cache and the `--watch` warm re-run.

The suite: 200 files x 25 tests = 5,000 tests (plain functions, a class,
parametrize, a conftest fixture). Timed: collection (`--collect-only`; node
ids must be identical) and full runs (outcomes must match). Both use the same
interpreter and environment (`/tmp/peers`, with pytest and pytest-xdist;
`PYBUN_ENV` points pybun at it). PYTHONDONTWRITEBYTECODE=1 for all, except
the ", bc" rows, where it is unset for both tools (both then keep bytecode).
Each generated-suite row also shows the CPU the tool used (its workers
included) and CPU / wall: the cores it kept busy, which separates a slower
tool from a busier machine.
"""

import argparse
import os
import resource
import shutil
import pathlib
import statistics
import subprocess
import tempfile
import time

import bench_test_large
import bench_test_suites
from common import base_env, pybun_bin

PEERS = pathlib.Path(os.environ.get("PEERS", "/tmp/peers"))

CONFTEST = """import pytest

@pytest.fixture
def base():
    return 10
"""

MODULE = """import pytest

def test_plain_{i}():
    assert {i} + 1 == {i} + 1

@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
def test_param_{i}(n):
    assert n * 2 == n + n

def test_fixture_{i}(base):
    assert base == 10

class TestGroup{i}:
{methods}
"""


def generate(root: pathlib.Path, files: int) -> None:
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "conftest.py").write_text(CONFTEST)
    (root / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")
    methods = "\n".join(f"    def test_m{j}(self):\n        assert {j} >= 0\n" for j in range(13))
    for i in range(files):
        (root / "tests" / f"test_mod_{i:03}.py").write_text(MODULE.format(i=i, methods=methods))


def timed(cmd, env, cwd) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - start, out.stdout


def cpu_seconds() -> float:
    """CPU (user + system) of the children waited for so far, their own waited-for
    children included (a tool's workers): the difference around a run is its CPU."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_watch(pybun, env, root, edits: int) -> tuple[list[float], list[float]]:
    """`pybun test --watch` on one test: edit its file `edits` times; per edit,
    the seconds from the write to the result line (measured here) and the
    milliseconds pybun reports (from the change it saw to the results)."""
    import queue
    import threading

    target = root / "tests" / "test_mod_000.py"
    original = target.read_text()
    proc = subprocess.Popen(
        pybun + ["test", "--watch", "tests/test_mod_000.py::test_plain_0"],
        env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    lines: "queue.Queue[tuple[float, str]]" = queue.Queue()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put((time.perf_counter(), line))

    threading.Thread(target=pump, daemon=True).start()

    def wait_for(needle: str) -> tuple[float, str]:
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            try:
                at, line = lines.get(timeout=1)
            except queue.Empty:
                continue
            if needle in line:
                return at, line
        proc.kill()
        raise SystemExit(f"watch bench: `{needle}` never appeared")

    outside, inside = [], []
    try:
        wait_for("Watching for changes")
        for n in range(edits):
            time.sleep(0.3)
            text = original.replace("assert 0 + 1 == 0 + 1", f"assert 0 + 1 == 0 + 1  # edit {n}")
            start = time.perf_counter()
            target.write_text(text)
            at, line = wait_for("re-ran ")
            outside.append(at - start)
            inside.append(float(line.split(" in ")[1].split(" ms")[0]) / 1000)
            if "re-ran 1 test " not in line:
                raise SystemExit(f"watch bench: expected one test, got: {line}")
            wait_for("Watching for changes")
    finally:
        proc.kill()
        proc.wait()
        target.write_text(original)
    return outside, inside


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--edits", type=int, default=20, help="edits for the --watch re-run measurement")
    parser.add_argument("--suite", action="append", help="real suites to run (default: toolz, boltons, idna; `none` for none)")
    parser.add_argument("--skip-generated", action="store_true", help="only the real suites")
    parser.add_argument("--large", action="store_true", help="also collect a generated 81,000-test suite (bench_test_large.py; `just bench-test` sets it)")
    args = parser.parse_args()
    if not (PEERS / "bin" / "pytest").exists():
        raise SystemExit("needs pytest and pytest-xdist in /tmp/peers: python3 -m venv /tmp/peers && /tmp/peers/bin/pip install pytest pytest-xdist")
    root = pathlib.Path(tempfile.mkdtemp(prefix="bench-test-"))
    generate(root, args.files)
    env = base_env()
    env["PYBUN_ENV"] = str(PEERS)
    env.pop("VIRTUAL_ENV", None)
    for v in ("AGENT", "CLAUDECODE"):
        env.pop(v, None)
    pybun = [pybun_bin(), "--cache-dir", str(root / ".pybun-cache")]
    pytest = [str(PEERS / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider"]
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores here; other work on the machine skews the figures)")
    if not args.skip_generated:
        generated(args, root, env, pybun, pytest)
    if args.large:
        large = pathlib.Path(tempfile.mkdtemp(prefix="bench-test-large-")) / "suite"
        bench_test_large.bench(args, large, env, [pybun_bin(), "--cache-dir", str(large / ".pybun-cache")], pytest)
    suites = args.suite or bench_test_suites.DEFAULT
    if suites != ["none"]:
        real_suites(args, suites, env, pytest)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


def real_suites(args, suites, env, pytest) -> None:
    print()
    print(f"real suites (PyPI sdists), median of {args.runs} runs; same per-test outcomes required")
    print("(node ids: `pybun test --collect-only` vs `pytest --collect-only -q`, files only pytest can list collected by it; collect s: pybun's, pytest's)")
    print(f"{'suite':<16} {'tests':>6} {'pybun s':>8} {'pytest s':>9} {'-n 2 s':>7} {'vs pytest':>10} {'vs -n 2':>8}  {'node ids':<9} {'collect s':<12} outcomes")
    for name in suites:
        base = pathlib.Path(tempfile.mkdtemp(prefix=f"bench-suite-{name}-"))
        root = bench_test_suites.unpack(name, base)
        pybun = [pybun_bin(), "--cache-dir", str(base / ".pybun-cache")]
        # The first pybun run records durations (.pybun/test-durations.json), as a project's committed file would.
        ours = bench_test_suites.pybun_outcomes(pybun, root, env)
        theirs = bench_test_suites.pytest_outcomes(pytest[0], root, env)
        same = bench_test_suites.compare(name, ours, theirs)
        ours_collect, our_listing = timed(pybun + ["test", "--collect-only"], env, root)
        theirs_collect, their_listing = timed(pytest + ["--collect-only", "-q"], env, root)
        our_ids = [line for line in our_listing.splitlines() if "::" in line]
        their_ids = [line for line in their_listing.splitlines() if "::" in line]
        ids_verdict = "identical" if our_ids == their_ids else f"DIFFER({len(our_ids)}/{len(their_ids)})"
        ways = {
            "pybun": pybun + ["test", "-q"],
            "pytest": pytest + ["-q"],
            "pytest -n 2": pytest + ["-q", "-n", "2"],
        }
        results = {w: [] for w in ways}
        for _ in range(args.runs):
            for w, cmd in ways.items():
                seconds, _ = timed(cmd, env, root)
                results[w].append(seconds)
        m = {w: statistics.median(v) for w, v in results.items()}
        verdict = "same" if same else "MISMATCH"
        print(
            f"{name + ' ' + bench_test_suites.SUITES[name]['version']:<16} {len(theirs):>6} {m['pybun']:>8.3f} {m['pytest']:>9.3f} "
            f"{m['pytest -n 2']:>7.3f} {m['pybun'] / m['pytest']:>9.2f}x {m['pybun'] / m['pytest -n 2']:>7.2f}x  {ids_verdict:<9} "
            f"{ours_collect:.2f}/{theirs_collect:.2f}    {verdict} ({bench_test_suites.counts(ours)})"
        )


def generated(args, root, env, pybun, pytest) -> None:

    # Collection: identical node ids.
    _, ours = timed(pybun + ["test", "--collect-only"], env, root)
    _, theirs = timed(pytest + ["--collect-only", "-q"], env, root)
    our_ids = [l for l in ours.splitlines() if "::" in l]
    their_ids = [l for l in theirs.splitlines() if "::" in l]
    assert our_ids == their_ids, f"node ids differ: {len(our_ids)} vs {len(their_ids)}"
    # Same outcomes: every test passes in both.
    _, ours_run = timed(pybun + ["--format", "json", "test"], env, root)
    import json
    summary = json.loads(ours_run)["result"]["summary"]
    _, theirs_run = timed(pytest + ["-q"], env, root)
    assert f"{summary['passed']} passed" in theirs_run and summary["failed"] == 0, (summary, theirs_run[-200:])
    ways = {
        "collect: pybun": pybun + ["test", "--collect-only"],
        "collect: pytest": pytest + ["--collect-only", "-q"],
        "run: pybun": pybun + ["test", "-q"],
        "run: pytest": pytest + ["-q"],
        "run: pytest -n 2": pytest + ["-q", "-n", "2"],
        "run: pybun, bc": pybun + ["test", "-q"],
        "run: pytest, bc": pytest + ["-q"],
    }
    # The main rows run under PYTHONDONTWRITEBYTECODE=1 (this machine's setting): neither tool
    # writes bytecode, every run compiles the suite's modules. The ", bc" rows run both tools
    # without it: pytest keeps its rewritten test modules in __pycache__, pybun keeps the
    # project's bytecode in its cache (one untimed warm-up run of each fills them).
    # Python and pytest read bytecode that exists even under PYTHONDONTWRITEBYTECODE=1, so the
    # two groups run one after the other, with the bytecode removed before and after the second.
    with_bytecode = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def drop_bytecode() -> None:
        shutil.rmtree(root / ".pybun-cache" / "test-bytecode-v1", ignore_errors=True)
        for cache in root.rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)

    drop_bytecode()
    results = {name: [] for name in ways}
    cpu = {name: [] for name in ways}
    for group, group_env in ((False, env), (True, with_bytecode)):
        names = [name for name in ways if name.endswith(", bc") == group]
        if group:
            for name in names:
                timed(ways[name], group_env, root)
        for _ in range(args.runs):
            for name in names:
                before = cpu_seconds()
                seconds, _ = timed(ways[name], group_env, root)
                cpu[name].append(cpu_seconds() - before)
                results[name].append(seconds)
    drop_bytecode()
    medians = {name: statistics.median(v) for name, v in results.items()}
    print(f"PYTHONDONTWRITEBYTECODE=1; {len(our_ids)} tests in {args.files} files; identical node ids; interpreter {PEERS}/bin/python")
    print("(cpu s: user + system of the tool and its workers; cpu/wall: how many cores it kept busy)")
    print(f"{'what':<18} {'median s':>9} {'cpu s':>7} {'cpu/wall':>9}")
    for name, value in medians.items():
        cpu_median = statistics.median(cpu[name])
        print(f"{name:<18} {value:>9.3f} {cpu_median:>7.3f} {cpu_median / value:>9.2f}")
    print(f"collection speed-up pybun vs pytest: {medians['collect: pytest'] / medians['collect: pybun']:.1f}x")
    cold, warm = [], []
    for _ in range(max(args.runs, 10)):
        shutil.rmtree(root / ".pybun-cache" / "test-discovery-v1", ignore_errors=True)
        cold.append(timed(pybun + ["test", "--collect-only"], env, root)[0])
        warm.append(timed(pybun + ["test", "--collect-only"], env, root)[0])
    print(
        f"collection, discovery cache cold vs warm (median of {len(cold)}): {statistics.median(cold) * 1000:.1f} ms vs "
        f"{statistics.median(warm) * 1000:.1f} ms"
    )
    print(f"run speed-up pybun vs pytest: {medians['run: pytest'] / medians['run: pybun']:.1f}x; vs pytest -n 2: {medians['run: pytest -n 2'] / medians['run: pybun']:.1f}x")
    print(f"run speed-up with bytecode written by both (PYTHONDONTWRITEBYTECODE unset; pytest's __pycache__, pybun's cache): {medians['run: pytest, bc'] / medians['run: pybun, bc']:.1f}x")
    outside, inside = bench_watch(pybun, env, root, args.edits)
    print(
        f"warm re-run (--watch, one test, {args.edits} edits of its file): write -> result line median "
        f"{statistics.median(outside) * 1000:.1f} ms (min {min(outside) * 1000:.1f}, max {max(outside) * 1000:.1f}); "
        f"pybun's own figure (change seen -> results) median {statistics.median(inside) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
