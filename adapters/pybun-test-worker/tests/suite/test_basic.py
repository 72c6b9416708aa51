import sys
import warnings

import pytest


def test_pass():
    assert 1 + 1 == 2


def test_fail_compare():
    a = 1
    b = 2
    assert a == b


def test_fail_message():
    assert [1, 2, 3] == [1, 5, 3], "lists differ"


def test_raises_other():
    {}["missing"]


@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")


def test_fixture_error(broken):
    pass


@pytest.mark.skip(reason="not today")
def test_skip_mark():
    assert False


@pytest.mark.skipif(sys.version_info > (3,), reason="py3")
def test_skipif_true():
    assert False


@pytest.mark.skipif("sys.platform == 'nonexistent'", reason="never")
def test_skipif_string_false():
    pass


def test_skip_inside():
    pytest.skip("skipped from inside")


@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert 0


@pytest.mark.xfail(reason="fixed already")
def test_xpass():
    pass


@pytest.mark.xfail(strict=True, reason="strict")
def test_xpass_strict():
    pass


@pytest.mark.xfail(raises=KeyError)
def test_xfail_wrong_exception():
    raise ValueError("nope")


def test_raises_and_approx():
    with pytest.raises(ValueError, match=r"bad \d+") as excinfo:
        raise ValueError("bad 42")
    assert excinfo.value.args == ("bad 42",)
    assert 0.1 + 0.2 == pytest.approx(0.3)
    assert [0.1 + 0.2, 1.0] == pytest.approx([0.3, 1.0])
    assert {"a": 0.1 + 0.2} == pytest.approx({"a": 0.3})
    with pytest.warns(UserWarning, match="careful"):
        warnings.warn("be careful", UserWarning)


def test_did_not_raise():
    with pytest.raises(ValueError):
        pass


@pytest.mark.custom_marker("anything")
def test_custom_marker():
    pass


class TestClass:
    def setup_method(self, method):
        self.value = 41

    def test_method(self):
        self.value += 1
        assert self.value == 42

    def test_method_fails(self):
        assert self.value == 0
