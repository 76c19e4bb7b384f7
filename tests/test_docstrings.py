"""Every example in a public docstring runs and prints what it claims."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import perfstats

MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(perfstats.__path__, prefix="perfstats.")
    if not name.split(".")[-1].startswith("_")
)


@pytest.mark.parametrize("name", ["perfstats", *MODULES])
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
