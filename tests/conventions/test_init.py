"""conventions (the package): its public names, and that it stays the leaf every other package may import."""
import subprocess
import sys

import pytest

import conventions


def test_every_public_name_resolves():
    assert all(hasattr(conventions, name) for name in conventions.__all__)


@pytest.mark.parametrize("package, others", [
    ("conventions", ("augkit", "nets", "ensemble")),
    ("nets", ("augkit", "ensemble")),
    ("augkit", ("nets", "ensemble")),
])
def test_imports_point_one_way(package, others):
    """conventions imports none of the three packages; nets and augkit import neither of the other two."""
    code = (f"import sys, {package}, pkgutil, importlib\n"
            f"for m in pkgutil.walk_packages({package}.__path__, '{package}.'): importlib.import_module(m.name)\n"
            f"loaded = sorted(n for n in {others!r} if n in sys.modules)\n"
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
