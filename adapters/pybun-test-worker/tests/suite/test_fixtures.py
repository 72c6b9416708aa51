import os
import sys

import pytest

from conftest import LOG


@pytest.fixture
def overridden(overridden):
    return overridden + "+module"


@pytest.fixture(autouse=True)
def auto(request):
    request.node.auto_used = True
    yield


def test_teardown_order_first(inner):
    assert inner == "outer+inner"
    print("first sees", LOG[-2:])


def test_teardown_order_check():
    i = LOG.index("outer-setup")
    assert LOG[i:i + 4] == ["outer-setup", "inner-setup", "inner-teardown", "outer-teardown"]


def test_scopes_a(session_counter, module_resource):
    session_counter["n"] += 1
    assert module_resource == "module-value"


def test_scopes_b(session_counter, module_resource):
    session_counter["n"] += 1
    assert session_counter["n"] >= 2
    assert LOG.count("module-setup") == 1


def test_override(overridden):
    assert overridden == "from-conftest+module"


def test_tmp_path(tmp_path):
    p = tmp_path / "hello.txt"
    p.write_text("hi")
    assert p.read_text() == "hi"
    assert tmp_path.is_dir()


def test_monkeypatch_set(monkeypatch):
    monkeypatch.setattr(os, "getcwd", lambda: "/patched")
    monkeypatch.setenv("PYBUN_SUITE_VAR", "1")
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.setitem(sys.modules, "fake_module_xyz", "x")
    assert os.getcwd() == "/patched"
    assert os.environ["PYBUN_SUITE_VAR"] == "1"


def test_monkeypatch_undone():
    assert os.getcwd() != "/patched"
    assert "PYBUN_SUITE_VAR" not in os.environ
    assert "fake_module_xyz" not in sys.modules


def test_capsys(capsys):
    print("to stdout")
    sys.stderr.write("to stderr\n")
    out, err = capsys.readouterr()
    assert out == "to stdout\n"
    assert err == "to stderr\n"


def test_capfd(capfd):
    os.write(1, b"fd level\n")
    captured = capfd.readouterr()
    assert captured.out == "fd level\n"


def test_request_finalizer(request):
    request.addfinalizer(lambda: LOG.append("finalizer-ran"))
    assert request.node.auto_used


def test_finalizer_ran():
    assert "finalizer-ran" in LOG
