"""split_params and infer_path: structure read out of test names and classnames."""

from __future__ import annotations

import pytest

from pytest_testviz.core import infer_path, split_params

from .helpers import case, junit, read


@pytest.mark.parametrize(
    ("name", "base", "params"),
    [
        # pytest
        ("test_add[1-2]", "test_add", "1-2"),
        ("test_x[a[0]-b]", "test_x", "a[0]-b"),
        ("test_param[a b]", "test_param", "a b"),
        ("test_ids[]", "test_ids", ""),
        ("test_plain", "test_plain", None),
        # JUnit 5 (Surefire method name, and display name)
        ("param(int)[1]", "param(int)", "1"),
        ("add(int, int)[12]", "add(int, int)", "12"),
        ("[1] label", "label", "1"),
        ("[3] 1, 2, 3", "1, 2, 3", "3"),
        # PHPUnit
        ("testAdd with data set #0", "testAdd", "#0"),
        ('testAdd with data set "two positives"', "testAdd", "two positives"),
        ('testAdd with data set "named" (1, 2)', "testAdd", "named"),
        # Titles that only look parameterized stay whole.
        ("works [slow]", "works [slow]", None),
        ("renders <Button> [snapshot]", "renders <Button> [snapshot]", None),
        ("[api] returns 200", "[api] returns 200", None),
        ("test_x[unbalanced", "test_x[unbalanced", None),
        ("Name/0", "Name/0", None),  # GoogleTest-like, but without value_param
    ],
)
def test_split_params(name: str, base: str, params: str | None) -> None:
    assert split_params(name) == (base, params)


def test_googletest_value_parameterized_name_splits_only_with_value_param() -> None:
    assert split_params("Name/0", value_param="42") == ("Name", "0")
    assert split_params("Name/7", value_param="(1, 2)") == ("Name", "7")
    assert split_params("Name/x", value_param="42") == ("Name/x", None)


def test_parser_fills_base_name_and_params_and_keeps_the_name() -> None:
    results = read(
        junit(
            case("test_add[1-2]"),
            case("test_x[a[0]-b]"),
            case("Name/3", "Inst/Fixture", attrs='value_param="7"'),
            case("works [slow]", "Button"),
        )
    )

    assert [(r.name, r.base_name, r.params) for r in results] == [
        ("test_add[1-2]", "test_add", "1-2"),
        ("test_x[a[0]-b]", "test_x", "a[0]-b"),
        ("Name/3", "Name", "3"),
        ("works [slow]", "works [slow]", None),
    ]


@pytest.mark.parametrize(
    ("classname", "path"),
    [
        ("tests.unit.test_math.TestAdd", "tests/unit/test_math.py"),
        ("tests.unit.test_math.TestAdd.TestNested", "tests/unit/test_math.py"),
        ("tests.test_math", "tests/test_math.py"),
        ("test_math", "test_math.py"),
        ("pkg.math_test", "pkg/math_test.py"),
        # A bare "tests" package names no file: Java packages are called that too.
        ("app.tests.ViewTests", None),
        ("org.apache.pulsar.tests.EnumValuesDataProviderTest", None),
        ("sample.spec.js", "sample.spec.js"),
        ("e2e/login.spec.ts", "e2e/login.spec.ts"),
        ("features/login.feature", "features/login.feature"),
        ("com.example.CalculatorTest", None),
        ("github.com/org/repo/pkg", None),
        ("pkg.helpers.Thing", None),
        ("Calculator", None),
        ("a test with spaces", None),
        ("/abs/path/test_x.py", None),
        ("", None),
    ],
)
def test_infer_path(classname: str, path: str | None) -> None:
    assert infer_path(classname) == path


@pytest.mark.parametrize(
    ("classname", "name", "path"),
    [
        # --doctest-modules: node id "more_itertools/more.py::more_itertools.more.chunked"
        ("more_itertools.more", "more_itertools.more.chunked", "more_itertools/more.py"),
        ("more_itertools.more", "more_itertools.more.Class.method", "more_itertools/more.py"),
        ("more_itertools.more", "more_itertools.more", "more_itertools/more.py"),  # module doc
        ("mod", "mod.func", "mod.py"),
        ("src.attr._make", "attr._make.attrs", "src/attr/_make.py"),  # a src/ layout
        # --doctest-glob: node id "README.rst::README.rst", "docs/usage.rst::usage.rst"
        ("README.rst", "README.rst", "README.rst"),
        ("docs.usage.rst", "usage.rst", "docs/usage.rst"),
        ("test_notes.txt", "test_notes.txt", "test_notes.txt"),
        # Not doctests: names that only look dotted, or another producer's shapes.
        ("fails", "fails", None),  # CTest: name and classname alike, not dotted
        ("test", "test.jsx", None),  # Jest: a file name
        ("Sample.Tests.SampleTests", "SampleTests.PassingTest", None),  # MbUnit: a class
        ("corp.proj.PingIntegrationTest", "PingIntegrationTest.pingAsync (Normal)", None),
        ("com.example.Calculator", "com.example.Calculator.add", None),
        ("other.module", "more_itertools.more.chunked", None),
    ],
)
def test_infer_path_of_pytest_doctests(classname: str, name: str, path: str | None) -> None:
    assert infer_path(classname, name) == path


@pytest.mark.parametrize(
    ("classname", "name"),
    [
        ("tests.unit.test_math.TestAdd", "test_add[1.5-2]"),
        ("tests.test_math", "test_x"),
        ("sample.spec.js", "sample.spec.js"),
        ("com.example.CalculatorTest", "testAdd"),
    ],
)
def test_infer_path_gives_the_same_with_or_without_a_plain_name(classname: str, name: str) -> None:
    assert infer_path(classname, name) == infer_path(classname)
