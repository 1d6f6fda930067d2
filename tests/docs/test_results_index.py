"""docs/_tools/results_index.py: how the site finds, dates and titles the results pages."""
import pytest

from tests.script_loader import load_script

index = load_script("docs/_tools/results_index.py")
report = load_script("examples/_report.py")


def test_a_page_with_the_header_is_read_from_it(tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    header = report.report_header("A study", command="python examples/x.py --out docs/results/study", date="2026-01-02")
    (folder / "study.md").write_text(header + "\n\n| a |\n|---|\n")
    (page,) = index.find_pages(tmp_path)
    assert (page.title, page.date, page.command, page.has_header) == (
        "A study", "2026-01-02", "python examples/x.py --out docs/results/study", True)


def test_a_page_without_it_is_titled_by_its_script_and_told_how_to_refresh(tmp_path):
    folder = tmp_path / "lecture" / "xavier_vs_he"
    folder.mkdir(parents=True)
    (folder / "xavier_vs_he.md").write_text("| a |\n|---|\n")  # as written before the header existed
    (page,) = index.find_pages(tmp_path)
    assert not page.has_header and page.date is None  # not in git: no date to give
    assert page.title == "Xavier against He on deep plain ReLU networks (He et al. 2015, Figures 2 and 3), on digits"
    assert page.command == f"python examples/lecture_xavier_vs_he.py --out {folder.as_posix()}"
    note = index.legacy_note(page)
    assert "at an unrecorded date, header missing" in note and f"re-run `{page.command}` to refresh it" in note


def test_a_committed_page_is_dated_by_its_last_change():
    if not (index.ROOT / ".git").exists():
        pytest.skip("not a git checkout: pages are not dated")
    page = index.RESULTS / "demo" / "results.md"
    assert index.last_changed(page) is not None and len(index.last_changed(page)) == len("2026-01-02")


def test_producers_are_found_by_the_file_they_write():
    assert index.producer("cifar10_recipe_curve") == index.ROOT / "examples/cifar10_recipe.py"
    assert index.producer("results") == index.ROOT / "ensemble/demo.py"
    assert index.producer("no_such_page") is None


def test_headings_move_under_the_title_outside_code():
    text = "### a\n\ntext\n\n```\n# not a heading\n```\n#### b\n"
    assert index.shift_headings(text) == "## a\n\ntext\n\n```\n# not a heading\n```\n### b\n"
    assert index.shift_headings("no headings\n", 4) == "no headings\n"
