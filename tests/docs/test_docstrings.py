"""One docstring style in the packages, and the API reference's reading of it (docs/_ext/apiref.py).

The docs build validates the docstrings of the objects the API reference documents; these tests
hold the rest of the packages to the same form, and pin how the reference finds what it shows.
"""
import ast
import re
from pathlib import Path

import pytest

from tests.script_loader import ROOT, load_script

PACKAGES = ("augkit", "nets", "ensemble", "conventions")
# A Google-style section header ("Args:") on a line of its own; numpydoc underlines its sections.
GOOGLE_SECTION = re.compile(r"^\s*(Args|Arguments|Returns|Raises|Yields|Attributes|Examples?|Notes?|Warnings?):\s*$")


def docstrings(path: Path):
    """(line, docstring) of the module, every class and every function in ``path``."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                yield getattr(node, "lineno", 1), doc


def test_no_docstring_uses_google_style_sections():
    found = [f"{path.relative_to(ROOT)}:{line}: {text.strip()}"
             for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
             for line, doc in docstrings(path) for text in doc.splitlines() if GOOGLE_SECTION.match(text)]
    assert not found, "numpydoc sections (a title underlined with dashes), not Google's:\n" + "\n".join(found)


def test_no_code_points_into_prose():
    # Code says what it does itself, or names the script or page that measures it; a README changes.
    found = [f"{path.relative_to(ROOT)}:{number}" for package in PACKAGES
             for path in sorted((ROOT / package).rglob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), 1) if "README" in line]
    assert not found, found


def test_a_reexported_constant_is_documented_by_the_comment_where_it_is_bound():
    pytest.importorskip("sphinx", reason="the API reference's extension needs Sphinx (the docs extra)")
    import augkit.functional
    import conventions

    apiref = load_script("docs/_ext/apiref.py")
    comments = apiref.constant_comments()
    fills = comments[("FILLS", id(augkit.functional.FILLS))]  # bound in augkit/functional/warp.py
    assert fills[0].startswith("What a geometric step samples outside its input frame")
    assert comments[("Range", id(conventions.Range))][0].startswith("A closed interval")


def test_namedtuple_fields_are_left_to_their_class_docstring():
    pytest.importorskip("sphinx", reason="the API reference's extension needs Sphinx (the docs extra)")
    from augkit.functional.geometry import Radial

    apiref = load_script("docs/_ext/apiref.py")
    assert apiref.skip_foreign_members(None, "attribute", "k1", Radial.k1, False, {}) is True
    assert apiref.skip_foreign_members(None, "method", "replay", lambda: None, False, {}) is None
