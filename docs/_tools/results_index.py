"""The results pages: find them, date them, and write ``docs/results/index.md``.

A results page is a ``<name>.md`` that an example or benchmark wrote into ``docs/results/<study>/``
(``--out docs/results/<study>``) beside its ``<name>.json`` and figures. Pages written by
``examples/_report.py``'s ``write_report`` start with a header (title, command, machine, date);
pages measured before that header existed have none, so the site shows them with a note: the
date of the last commit that changed the page, and the command that refreshes it.

The Sphinx build runs this (``docs/_ext/results_pages.py``); run it by hand to see the list::

    python docs/_tools/results_index.py            # writes docs/results/index.md, prints the pages
"""
from __future__ import annotations

import ast
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
RESULTS = DOCS / "results"
INDEX = RESULTS / "index.md"
# Where the scripts that write results pages live (the main job is a module of ensemble).
PRODUCERS = ("examples/*.py", "benchmarks/*.py", "ensemble/demo.py")

HEADER_DATE = re.compile(r"^- \*\*Date:\*\* (\d{4}-\d{2}-\d{2})\s*$", re.M)
HEADER_COMMAND = re.compile(r"^- \*\*Command:\*\* (`+)(.+?)\1\s*$", re.M)
TITLE = re.compile(r"^# (.+)$", re.M)
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


@dataclass
class ResultsPage:
    """One results page, as the index and the build see it."""

    path: Path            # docs/results/<study>/<name>.md
    title: str
    date: str | None      # from the header, else the last commit that changed the file
    command: str | None   # from the header, else the command that re-runs the study
    has_header: bool

    @property
    def study(self) -> str:
        """The folder under ``docs/results``, e.g. ``lecture/init_symmetry``."""
        return self.path.parent.relative_to(RESULTS).as_posix()

    @property
    def docname(self) -> str:
        """The Sphinx document name, e.g. ``results/lecture/init_symmetry/init_symmetry``."""
        return self.path.relative_to(DOCS).with_suffix("").as_posix()


def find_pages(results: Path = RESULTS) -> list[ResultsPage]:
    """Every results page under ``results`` (the index excepted), sorted by study."""
    pages = []
    for path in sorted(results.rglob("*.md")):
        if path == results / "index.md":
            continue
        text = path.read_text()
        date, command = HEADER_DATE.search(text), HEADER_COMMAND.search(text)
        title = TITLE.search(text)
        if date and command and title:
            pages.append(ResultsPage(path, title.group(1).strip(), date.group(1), command.group(2), True))
            continue
        script = producer(path.stem)
        pages.append(ResultsPage(path, script_title(script) if script else path.stem.replace("_", " ").capitalize(),
                                 last_changed(path), rerun_command(script, path) if script else None, False))
    titles = [page.title for page in pages]
    for page in pages:  # two pages of one script (the recipe and its curve) need telling apart
        if titles.count(page.title) > 1:
            page.title = f"{page.title} ({page.study})"
    return pages


def producer(name: str) -> Path | None:
    """The script that writes ``<name>.md``: the one whose source names that file or passes
    ``name`` to ``write_report``."""
    pattern = re.compile(rf'"{re.escape(name)}\.md"|write_report\([^,]+,\s*"{re.escape(name)}"')
    for glob in PRODUCERS:
        for script in sorted(ROOT.glob(glob)):
            if pattern.search(script.read_text()):
                return script
    return None


def script_title(script: Path) -> str:
    """The title ``write_report`` gives the pages of ``script``: its docstring's first line, up
    to a colon, without a final period."""
    doc = ast.get_docstring(ast.parse(script.read_text())) or script.stem
    return doc.strip().splitlines()[0].split(": ")[0].rstrip(".")


def rerun_command(script: Path, page: Path) -> str:
    """The command that writes ``page`` again: the script, ``--cifar10 PATH`` when the run read CIFAR-10
    (as recorded in the page's ``.json``, or possible when it recorded no options) and ``--out``."""
    relative = script.relative_to(ROOT)
    head = (f"python -m {'.'.join(relative.with_suffix('').parts)}" if relative.parts[0] not in ("examples", "benchmarks")
            else f"python {relative.as_posix()}")
    args = recorded_options(page)
    read_cifar10 = args.get("cifar10") not in (None, "None") if args else "add_cifar10_argument" in script.read_text()
    out = page.parent.relative_to(ROOT) if page.parent.is_relative_to(ROOT) else page.parent
    return f"{head}{' --cifar10 PATH' if read_cifar10 else ''} --out {out.as_posix()}"


def recorded_options(page: Path) -> dict | None:
    """The ``args`` the run recorded in the page's ``.json``, if any."""
    data = page.with_suffix(".json")
    try:
        args = json.loads(data.read_text()).get("args") if data.exists() else None
    except (ValueError, AttributeError):
        return None
    return args if isinstance(args, dict) else None


def last_changed(path: Path) -> str | None:
    """The date of the last commit that changed ``path``'s content (renames followed), or None without git."""
    try:
        out = subprocess.run(["git", "log", "--follow", "--diff-filter=AM", "-1", "--format=%cs", "--", str(path)],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return out or None


def legacy_note(page: ResultsPage) -> str:
    """The note shown above a page measured before the header existed: when, and how to refresh it."""
    when = f"before {page.date}" if page.date else "at an unrecorded date"
    options = f" with the other options recorded in `{page.path.stem}.json`" if recorded_options(page.path) else ""
    rerun = f"re-run `{page.command}`{options} to refresh it" if page.command else "its producing script is not known"
    return (f":::{{note}}\nMeasured {when}, header missing (no command, machine or date were "
            f"recorded with it): {rerun}.\n:::\n")


def unlinked_figures(page: ResultsPage) -> list[str]:
    """The PNG files in the page's folder that no page of that folder links."""
    linked = {Path(link).name for md in page.path.parent.glob("*.md") for link in IMAGE_LINK.findall(md.read_text())}
    return [png.name for png in sorted(page.path.parent.glob("*.png")) if png.name not in linked]


def shift_headings(markdown: str, top: int = 2) -> str:
    """Move every ``#`` heading of ``markdown`` (outside code fences) so that the highest is level ``top``."""
    lines, fenced, levels = markdown.splitlines(), False, []
    for line in lines:
        fenced ^= line.startswith("```")
        if not fenced and (m := re.match(r"^(#{1,6}) ", line)):
            levels.append(len(m.group(1)))
    if not levels:
        return markdown
    shift, fenced, out = top - min(levels), False, []
    for line in lines:
        fenced ^= line.startswith("```")
        if not fenced and (m := re.match(r"^(#{1,6}) ", line)):
            line = "#" * max(1, len(m.group(1)) + shift) + line[len(m.group(1)):]
        out.append(line)
    return "\n".join(out) + ("\n" if markdown.endswith("\n") else "")


def index_markdown(pages: list[ResultsPage]) -> str:
    """``docs/results/index.md``: one row per page (title, date, command) and the hidden toctree."""
    rows = []
    for page in pages:
        date = page.date or "unknown"
        measured = date if page.has_header else f"before {date} (no header)"
        link = f"[{page.title}]({page.path.relative_to(RESULTS).as_posix()})"
        rows.append(f"| {link} | `{page.study}` | {measured} |")
    toctree = "\n".join(page.path.relative_to(RESULTS).with_suffix("").as_posix() for page in pages)
    return f"""# Results

Each page below was written by the example or benchmark that measures it, with
`--out docs/results/<study>`: its tables, its figures and a `.json` with every number. A page
starts with the command that produced it, the machine and the date. Pages measured before that
header existed say so, with the date of their last change and the command that refreshes them.
To refresh a page, run its command again.
Seconds depend on the machine and on what else ran; accuracies are deterministic per seed on a CPU.

<!-- Generated by docs/_tools/results_index.py at every build: edit that script, not this file. -->

| page | folder | measured |
|---|---|---|
{chr(10).join(rows)}

```{{toctree}}
:hidden:

{toctree}
```
"""


def write_index(results: Path = RESULTS) -> list[ResultsPage]:
    """Write ``results/index.md`` when its text changed (so an unchanged build stays incremental)."""
    pages = find_pages(results)
    text = index_markdown(pages)
    index = results / "index.md"
    if not index.exists() or index.read_text() != text:
        index.write_text(text)
    return pages


if __name__ == "__main__":
    for page in write_index():
        print(f"{page.study:40} {page.date or 'unknown':12} {'header' if page.has_header else 'no header':10} {page.command}")
    print(f"wrote {INDEX.relative_to(ROOT)}")
