"""Results pages in the site: the index written at every build, and each page shown as the example wrote it.

What the build adds to a page, without touching the file: the title and a dated note when the
page predates the header (:func:`results_index.legacy_note`), its headings moved under the title,
the figures of its folder that it does not link, and a download link to its ``.json``.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "_tools"))

import results_index  # docs/_tools is not a package: on the path above

_PAGES: dict[str, results_index.ResultsPage] = {}


def write_index(app) -> None:
    """``builder-inited``: write ``results/index.md`` and remember every page by its document name."""
    _PAGES.clear()
    _PAGES.update({page.docname: page for page in results_index.write_index()})


def show_page(app, docname: str, source: list[str]) -> None:
    """``source-read``: a results page as the site shows it."""
    page = _PAGES.get(docname)
    if page is None:
        return
    text = source[0]
    if not page.has_header:
        text = results_index.legacy_note(page) + "\n" + results_index.shift_headings(text)
    else:
        title, _, body = text.partition("\n")
        text = title + "\n" + results_index.shift_headings(body)
    figures = results_index.unlinked_figures(page)
    if figures:
        text += "\n" + "\n\n".join(f"![{name[:-4].replace('_', ' ')}]({name})" for name in figures) + "\n"
    data = page.path.with_suffix(".json")
    if data.exists():
        text += f"\nEvery number of this page: {{download}}`{data.name}`.\n"
    source[0] = text


def setup(app):
    app.connect("builder-inited", write_index)
    app.connect("source-read", show_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
