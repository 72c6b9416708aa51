from . import helpers


def test_relative_import(pkg_fixture):
    assert helpers.VALUE == 7
    assert pkg_fixture == "pkg"
    assert __name__ == "pkg.test_inpkg"
