"""The README: short, its two commands first, its links alive, its tour runnable as written."""
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

from tests.ensemble.photo_folders import make_photo_folder

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_is_short():
    assert len(README.encode("utf-8")) <= 12_000


def test_the_first_code_block_installs_and_runs_the_main_job_then_the_tests():
    block = re.search(r"```(\w*)\n(.*?)```", README, re.S)
    commands = [line.split("#")[0].strip() for line in block.group(2).splitlines() if line.strip()]
    assert commands == ['python -m pip install "torch==2.13.0" -e ".[plot]" && python -m ensemble.demo',
                        'python -m pip install "torch==2.13.0" -e ".[test]" && python -m pytest']


def test_every_relative_link_names_a_file_or_folder_of_the_repository():
    links = re.findall(r"\]\(([^)#\s]+)\)", README)
    local = [link for link in links if "://" not in link]
    assert local, "the README links its pages"
    assert [link for link in local if not (ROOT / link).exists()] == []


@pytest.mark.filterwarnings("ignore:.*rows were in every member's bag:UserWarning")  # 75 photos, 4 bags
def test_the_tour_runs_as_written_on_a_small_photo_folder(tmp_path, monkeypatch):
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    assert 'clf.fit("photos/train")' in code
    tour, recipe = code.split("clf = cifar10(")  # the recipe's line trains for 15 minutes: checked apart
    make_photo_folder(tmp_path / "photos" / "train", per_class=25)
    make_photo_folder(tmp_path / "photos" / "test", per_class=2)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(tour.replace("epochs=30", "epochs=1"), scope)  # one epoch instead of thirty, nothing else changed
    assert scope["out"].shape == (8, 3, 112, 112) and scope["proba"].shape == (6, 3)
    np.testing.assert_allclose(scope["proba"].sum(1), 1, rtol=1e-5)
    assert (tmp_path / "model").is_dir()
    from ensemble.recipes import cifar10
    assert recipe.startswith("time_budget=900)") and "time_budget" in inspect.signature(cifar10).parameters
