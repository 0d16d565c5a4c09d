"""unittest's ``subTest``, which pytest 9 reports subtest by subtest."""

# unittest-style on purpose: this is what a unittest suite looks like.
# ruff: noqa: PT009

import unittest


class TestSubTest(unittest.TestCase):
    def test_all_pass(self) -> None:
        for number in range(3):
            with self.subTest(number=number):
                self.assertGreaterEqual(number, 0)

    def test_one_fails(self) -> None:
        for number in range(3):
            with self.subTest(number=number):
                self.assertNotEqual(number, 2)

    def test_skip_in_subtest(self) -> None:
        with self.subTest(kind="skipped"):
            self.skipTest("not here")
        # subTest swallows the skip: the test goes on (mypy cannot know).
        with self.subTest(kind="runs"):  # type: ignore[unreachable]
            self.assertTrue(True)

    def test_target_d(self) -> None:
        self.assertEqual("d".upper(), "D")

    def test_target_e(self) -> None:
        self.assertEqual("e".upper(), "E")
