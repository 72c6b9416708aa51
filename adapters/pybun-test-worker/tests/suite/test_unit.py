import unittest


class TestUnit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.shared = "ready"

    def setUp(self):
        self.value = 1

    def test_ok(self):
        self.assertEqual(self.shared, "ready")
        self.assertEqual(self.value, 1)

    def test_fail(self):
        self.assertEqual(self.value, 2)

    def test_error(self):
        raise KeyError("boom")

    @unittest.skip("skipped unittest")
    def test_skip(self):
        pass

    @unittest.expectedFailure
    def test_expected_failure(self):
        self.assertTrue(False)
