def test_only_on_python2():
    assert False, "never collected on Python 3"
