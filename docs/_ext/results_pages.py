"""Results pages in the site: the index written at every build, and each page shown as the example wrote it.

What the build adds to a page, without touching the file: the title and a dated note when the
page predates the header (:func:`results_index.legacy_note`), its headings moved under the title,
the figures of its folder that it does not link, and a download link to its ``.json``. A page
included in another (``{include}`` of ``results/<study>/<name>.md``) keeps its note or header and
links to the page instead of repeating its title.
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
    if page is not None:
        source[0] = page_markdown(page, source[0], embedded=False)


def show_included_page(app, relative_path: Path, parent_docname: str, content: list[str]) -> None:
    """``include-read``: a results page included in another page (the comparison's speed tables),
    without its title and with its headings under the including section, dated like the page."""
    page = _PAGES.get(Path(relative_path).with_suffix("").as_posix())
    if page is not None:
        content[0] = page_markdown(page, content[0], embedded=True)


def page_markdown(page: results_index.ResultsPage, text: str, embedded: bool) -> str:
    """The page's markdown with its title (or, ``embedded``, a link to the page in its place), the
    note of a page without a header, its unlinked figures and a link to its data."""
    if page.has_header:
        _, _, text = text.partition("\n")  # the title line
    top = 4 if embedded else 2
    parts = [f"{{doc}}`{page.title} </{page.docname}>`:\n" if embedded else f"# {page.title}\n"]
    if not page.has_header:
        parts.append(results_index.legacy_note(page))
    parts.append(results_index.shift_headings(text, top))
    if not embedded:
        figures = results_index.unlinked_figures(page)
        parts += [f"![{name[:-4].replace('_', ' ')}]({name})\n" for name in figures]
        data = page.path.with_suffix(".json")
        if data.exists():
            parts.append(f"Every number of this page: {{download}}`{data.name}`.\n")
    return "\n".join(parts)


def setup(app):
    app.connect("builder-inited", write_index)
    app.connect("source-read", show_page)
    app.connect("include-read", show_included_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
