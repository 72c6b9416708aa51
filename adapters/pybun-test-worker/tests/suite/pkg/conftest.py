import pytest


@pytest.fixture
def pkg_fixture():
    return "pkg"
