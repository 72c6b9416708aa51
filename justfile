# PyBun developer recipes. Thin wrappers around cargo and scripts/; CI runs `.ci/run`.

# Run what CI runs.
ready: test lint

# The whole test suite (same as README and .ci/run).
test:
    cargo test --workspace

# Clippy on every crate, warnings as errors (core/clippy.toml bans IO in core crates).
lint:
    cargo clippy --workspace --all-targets -- -D warnings

# Build the release binary.
build:
    cargo build --release -p pybun-cli

# Live checks against the public index: the locked name==version set must equal uv's (needs uv on PATH or UV=...).
e2e-live: build
    python3 scripts/e2e_live.py

# pybun lock vs uv lock on ../shared/workloads, cold and warm, medians and ratios (needs uv: UV=/path/to/uv).
bench-lock runs="5": build
    python3 scripts/bench_lock.py --runs {{runs}}

# pybun sync vs uv sync on ../shared/workloads: fresh venv (warm cache), no-op, cold; medians and ratios.
bench-sync runs="5": build
    python3 scripts/bench_sync.py --runs {{runs}}

# The hatchling editable-install test with hatchling's wheels downloaded from PyPI (not in the default run).
e2e-hatchling:
    rm -rf /tmp/pybun-hatchling-wheels && python3 -m pip download --only-binary :all: --dest /tmp/pybun-hatchling-wheels hatchling editables
    PYBUN_TEST_WHEELHOUSE=/tmp/pybun-hatchling-wheels cargo test -p pybun-cli --test sync_cli hatchling -- --nocapture

# The default link mode on a filesystem that can clone (a loop-mounted btrfs image; needs root and a loop device).
e2e-reflink:
    #!/usr/bin/env bash
    set -euo pipefail
    image=$(mktemp /tmp/pybun-reflink-XXXXXX.img) && mnt=$(mktemp -d /tmp/pybun-reflink-XXXXXX)
    trap 'umount "$mnt" 2>/dev/null; rmdir "$mnt"; rm -f "$image"' EXIT
    truncate -s 512M "$image" && mkfs.btrfs -q "$image" && mount -o loop "$image" "$mnt"
    PYBUN_TEST_REFLINK_DIR="$mnt" cargo test -p pybun-cli --test sync_cli the_default_link_mode_is_a_clone -- --nocapture

# pybun test with pytest installed into the project's env from a local wheelhouse (pytest's wheels downloaded once).
e2e-test-pytest:
    test -d /tmp/pybun-pytest-wheels || python3 -m pip download --only-binary :all: --dest /tmp/pybun-pytest-wheels pytest colorama exceptiongroup tomli
    PYBUN_TEST_PYTEST_WHEELHOUSE=/tmp/pybun-pytest-wheels cargo test -p pybun-cli --test test_cli pytest_from_a_wheelhouse -- --nocapture

# Start-up overhead of `pybun run` on a PEP 723 script vs bare python and `uv run`; `pybun x` vs `uvx` (warm).
bench-run runs="21": build
    python3 scripts/bench_run.py --runs {{runs}}

# pybun test vs pytest vs pytest -n 2 on a generated 5,000-test suite and on real suites from PyPI sdists
# (toolz, boltons, idna; downloaded once), collection cold/warm cache, --watch warm re-run, and collection of a generated
# 81,000-test suite (`--large`; pytest's collect-only of it takes 30-60 s) (needs /tmp/peers with pytest, pytest-xdist).
bench-test runs="3" *args="": build
    python3 scripts/bench_test.py --runs {{runs}} --large {{args}}

# The compute cost of each `pybun check` layer (static, index, resolution, lock) on a 60-dependency pyproject, with in-memory fakes (no IO): core's share of pybun lsp's latency.
bench-check:
    cargo run --release -q -p pybun-engine --example check_timing

# Neovim from this machine's Debian packages, without root (for the `pybun lsp` editor test, tests/lsp_nvim.rs).
fetch-nvim:
    scripts/fetch-nvim.sh

# pybun lsp on a 60-dependency pyproject (warm cache, public index): didOpen/didChange -> publishDiagnostics latency, RSS after 1,000 edits.
bench-lsp runs="20": build
    python3 scripts/bench_lsp.py --runs {{runs}}
