def test_on_python3():
    pass
