"""Import an example or benchmark script as a module (examples/ and benchmarks/ are not packages)."""
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_script(relative: str):
    """Import ``ROOT/relative`` under its file name. Its folder goes on ``sys.path`` first, as when
    the script runs: the examples import their shared ``_report`` module."""
    path = ROOT / relative
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module
