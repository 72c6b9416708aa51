import pytest


@pytest.mark.parametrize("x, expected", [(1, 2), (2, 4), (3, 7)])
def test_double(x, expected):
    assert x * 2 == expected


@pytest.mark.parametrize("s", ["a", "b c", "ü", "", None, 1.5, True])
def test_literals(s):
    pass


@pytest.mark.parametrize("x", [0, 1])
@pytest.mark.parametrize("y", ["p", "q"])
def test_stacked(x, y):
    pass


@pytest.mark.parametrize("v", [1, 1, 2], ids=None)
def test_duplicates(v):
    pass


@pytest.mark.parametrize("v", [pytest.param(1, id="one"), pytest.param(2, marks=pytest.mark.xfail(reason="two"))])
def test_param_objects(v):
    assert v == 1


@pytest.mark.parametrize("v", [10, 20], ids=["ten", "twenty"])
def test_ids_list(v):
    pass


@pytest.mark.parametrize("v", [object()])
def test_object_value(v):
    pass


def test_fixture_param(number):
    assert number in (10, 20)
