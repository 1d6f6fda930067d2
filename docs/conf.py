"""Sphinx configuration of augkit's documentation site.

Build (warnings are errors, every cross-reference must resolve)::

    python -m sphinx -W --keep-going -n -b html docs docs/_build/html

The build imports the packages (autodoc) but runs no example, reads no data folder and needs
no network: there is no intersphinx, so references to torch, numpy and scikit-learn are plain
text (``nitpick_ignore_regex`` below).
"""
from __future__ import annotations

import sys
import warnings
from importlib import metadata
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS.parent), str(DOCS / "_ext")]

project = "augkit"
author = "the augkit developers"
copyright = "the augkit developers, MIT license"
try:
    release = metadata.version("augkit")
except metadata.PackageNotFoundError:  # building from a checkout that is not installed
    release = "unreleased"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "apiref",         # docs/_ext: the API reference's public names, one page per object
    "results_pages",  # docs/_ext: the results index and the notes on pages measured before the header
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["_build", "_templates", "_tools", "_ext"]
nitpicky = True

# --- API reference -------------------------------------------------------------------------
autosummary_generate = True
autosummary_context: dict = {}  # apiref adds its page function
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_member_order = "bysource"
autodoc_inherit_docstrings = False  # a method without its own docstring is not shown (torch's are not numpydoc)
add_module_names = False
numpydoc_show_class_members = False  # the class template lists members with autodoc

# The checks that matter to a reader: every public object has a docstring whose summary ends
# with a period, every parameter is documented under its real name, sections are numpydoc's.
numpydoc_validation_checks = {
    "GL06",  # unknown section (e.g. Google-style "Args:")
    "GL07",  # sections in the wrong order
    "GL08",  # no docstring
    "PR01",  # a parameter not documented
    "PR02",  # a documented parameter that does not exist
    "PR03",  # parameters documented in another order than the signature
    "PR10",  # "name: type" without the space before the colon
    "SS01",  # no summary
    "SS03",  # the summary does not end with a period
}

# numpydoc reports an unknown section through GL06 above; its Python warning would repeat it.
warnings.filterwarnings("ignore", message="Unknown section", category=UserWarning, module="numpydoc")

# References to objects that are not public (no page documents them) or private helpers.
nitpick_ignore = [
    ("py:func", "_crop_to_footprint"),
    ("py:func", "corrupted_copies"),
    ("py:data", "MIN_ROWS"),
    ("py:data", "TEMPERATURE_RANGE"),
    ("py:func", "nets.step.lr_factor"),
    ("py:class", "nets.step.TrainStep"),
    ("py:class", "nets.pacing.Pacer"),
    ("py:class", "nets.average.Lookahead"),
    ("py:func", "nets.batches.inference_batch_size"),
    ("py:func", "nets.batches.model_memory_format"),
]

# External types: no intersphinx (the build must not need the network), so these stay plain text.
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|numpy|np|sklearn|PIL|joblib|dask|distributed|safetensors|matplotlib|tqdm)(\..*)?"),
    (r"py:.*", r"(collections\.abc|typing|pathlib|os|concurrent\.futures|argparse|json|dataclasses)\..*"),
    (r"py:class", r"(Tensor|Generator|ndarray|Module|Path|PathLike|device|dtype|Dataset|Callable|Sequence|Mapping)"),
    (r"py:class", r"(Iterable|Iterator|Any|Literal|Self|NamedTuple|array-like|optional|default .*)"),
    # Sphinx 9 splits the dataclass signature ``rows: list[dict[str, ~typing.Any]]`` at the comma.
    (r"py:class", r"list\[dict\[str"),
]

# --- pages ---------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3
smartquotes = False  # commands in prose keep their "--options" and quotes as typed

html_theme = "pydata_sphinx_theme"
html_title = "augkit"
html_static_path: list[str] = []
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "changelog": [], "comparison": []}
html_show_sourcelink = False
