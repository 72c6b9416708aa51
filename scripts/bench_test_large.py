"""The large generated suite of `just bench-test` (`--large`, on by default):
about 81,000 tests, the scale at which an existing Rust runner collects a
large real project in 0.11 s where pytest takes 16.9 s (154x).

Layout: `tests/` holds 18 packages x 9 sub-packages x 10 files = 1,620 test
files of 50 tests each (81,000): plain functions, `parametrize` (single and
stacked), a fixture from a conftest, a `Test*` class, a class with a
parametrized method, a `unittest.TestCase`; every package and sub-package has
an `__init__.py`, every package and every third sub-package a `conftest.py`
(fixtures overriding the root's). Timed: `pybun test --collect-only` with a
cold and a warm discovery cache, `pytest --collect-only -q` (once: about
30-60 s), wall and CPU (user + system) seconds; node ids must be identical.
"""

import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import time

PACKAGES = 18
SUBPACKAGES = 9
FILES = 10

ROOT_CONFTEST = """import pytest


@pytest.fixture
def base():
    return 10


@pytest.fixture
def offset():
    return 1
"""

PACKAGE_CONFTEST = """import pytest


@pytest.fixture
def offset(base):
    return base + {n}
"""

MODULE = '''"""Generated test module {n}."""
import unittest

import pytest


def test_plain_{n}():
    assert {n} + 1 == {n} + 1


@pytest.mark.parametrize("value", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
def test_param(value):
    assert value * 2 == value + value


@pytest.mark.parametrize("left", ["a", "b"])
@pytest.mark.parametrize("right", [1.5, None, True])
def test_stacked(left, right):
    assert left


def test_fixture(base, offset):
    assert offset >= base or offset == 1


class TestGroup{n}:
{methods}

class TestParams:
    @pytest.mark.parametrize("x, y", [(1, 2), (3, 4), pytest.param(5, 6, id="five"), (7, 8)])
    def test_pair(self, x, y):
        assert x < y

{plain_methods}

class TestCase{n}(unittest.TestCase):
{case_methods}
'''


def generate(root: pathlib.Path) -> int:
    """Writes the suite under `root` (which must not exist yet); returns the number of test files."""
    tests = root / "tests"
    tests.mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")
    (tests / "conftest.py").write_text(ROOT_CONFTEST)
    methods = "\n".join(f"    def test_m{j}(self):\n        assert {j} >= 0\n" for j in range(12))
    plain_methods = "\n".join(f"    def test_p{j}(self, base):\n        assert base == 10\n" for j in range(6))
    case_methods = "\n".join(f"    def test_c{j}(self):\n        self.assertEqual({j}, {j})\n" for j in range(10))
    count = 0
    for p in range(PACKAGES):
        package = tests / f"pkg_{p:02}"
        package.mkdir()
        (package / "__init__.py").write_text("")
        (package / "conftest.py").write_text(PACKAGE_CONFTEST.format(n=p))
        for s in range(SUBPACKAGES):
            sub = package / f"sub_{s}"
            sub.mkdir()
            (sub / "__init__.py").write_text("")
            if s % 3 == 0:
                (sub / "conftest.py").write_text(PACKAGE_CONFTEST.format(n=p * 10 + s))
            for f in range(FILES):
                n = count
                (sub / f"test_mod_{f}.py").write_text(
                    MODULE.format(n=n, methods=methods, plain_methods=plain_methods, case_methods=case_methods)
                )
                count += 1
    return count


CPU: list[float] = []


def _timed(cmd, env, cwd) -> tuple[float, str]:
    """Wall seconds and stdout; the CPU seconds (user + system) of the command go to `CPU`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}... exited {out.returncode}: {out.stderr[-2000:]}{out.stdout[-500:]}")
    return seconds, out.stdout


def bench(args, root: pathlib.Path, env, pybun, pytest) -> None:
    """Collection of the large suite: pybun cold and warm vs pytest (once), node ids compared."""
    files = generate(root)
    cache = root / ".pybun-cache" / "test-discovery-v1"
    print()
    print(f"large generated suite: {files} files under nested packages; pybun --collect-only cold and warm discovery cache, pytest --collect-only -q once")
    # Warm-up of the file system's caches for both tools (not timed): a listing of the tree.
    for path in root.rglob("*.py"):
        path.stat()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    theirs_seconds, theirs = _timed(pytest + ["--collect-only", "-q"], env, root)
    theirs_cpu = CPU[-1]
    their_ids = [line for line in theirs.splitlines() if "::" in line]
    cold, warm, cold_cpu, warm_cpu = [], [], [], []
    ours = ""
    for _ in range(max(args.runs, 5)):
        shutil.rmtree(cache, ignore_errors=True)
        seconds, _ = _timed(pybun + ["test", "--collect-only"], env, root)
        cold.append(seconds)
        cold_cpu.append(CPU[-1])
        seconds, ours = _timed(pybun + ["test", "--collect-only"], env, root)
        warm.append(seconds)
        warm_cpu.append(CPU[-1])
    our_ids = [line for line in ours.splitlines() if "::" in line]
    verdict = "identical" if our_ids == their_ids else f"DIFFER (pybun {len(our_ids)}, pytest {len(their_ids)})"
    if our_ids != their_ids:
        for a, b in zip(our_ids, their_ids):
            if a != b:
                print(f"  first difference: pybun `{a}` vs pytest `{b}`")
                break
    cold_s, warm_s = statistics.median(cold), statistics.median(warm)
    print(f"{'what':<28} {'seconds':>9} {'cpu s':>7}")
    print(f"{'collect: pybun, cold cache':<28} {cold_s:>9.3f} {statistics.median(cold_cpu):>7.3f}   (median of {len(cold)}; min {min(cold):.3f})")
    print(f"{'collect: pybun, warm cache':<28} {warm_s:>9.3f} {statistics.median(warm_cpu):>7.3f}   (median of {len(warm)}; min {min(warm):.3f})")
    print(f"{'collect: pytest':<28} {theirs_seconds:>9.3f} {theirs_cpu:>7.3f}   (one run)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(
        f"large suite: {len(their_ids)} tests, node ids {verdict}; collection speed-up vs pytest: "
        f"warm {theirs_seconds / warm_s:.1f}x, cold {theirs_seconds / cold_s:.1f}x (bar: 0.11 s and 154x)"
    )
    if our_ids != their_ids:
        raise SystemExit("large suite: node ids differ from pytest's")
