"""ensemble.engine.streamed: a stream's members train on exactly their Poisson bags, every epoch; the
order and crops do not depend on the DataLoader workers nor on how members are grouped; a SIGKILL
mid-fit, then resume=True, trains the same members as an uninterrupted fit."""
import functools
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import nets
from ensemble import BaggedNetClassifier
from ensemble.engine.plans import draw_entropy
from ensemble.engine.poisson import poisson_weights
from tests.ensemble.photo_folders import make_photo_folder, tiny_cnn

pytestmark = pytest.mark.filterwarnings("ignore:.*rows were in every member's bag:UserWarning")  # tiny folders

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.filterwarnings("ignore:.*rows were in every member's bag:UserWarning")  # tiny folders
SEEN: dict[int, list[np.ndarray]] = {}  # member seed -> the raw inputs of its training forwards


class _Recording(nets.SmallCNN):
    """A SmallCNN that records the inputs of its training forwards under the seed it was built with."""

    def __init__(self, input_shape, n_classes):
        super().__init__(input_shape=input_shape, n_classes=n_classes, widths=(4,))
        self.key = torch.initial_seed()

    def forward(self, x):
        if self.training and torch.is_grad_enabled():
            SEEN.setdefault(self.key, []).append(x.detach()[:, :, 0, 0].clone())
        return super().forward(x)


class IndexImages(torch.utils.data.Dataset):
    """Uniform images of mixed sizes whose red and green values spell their index."""

    def __init__(self, n):
        self.n = n
        self.targets = [i % 3 for i in range(n)]

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        image = np.zeros((30 + i % 7, 28 + i % 5, 3), np.uint8)
        image[..., 0], image[..., 1], image[..., 2] = i // 256, i % 256, 128
        return image, self.targets[i]


def test_each_member_trains_on_exactly_its_bag_in_every_epoch():
    SEEN.clear()
    n, epochs = 300, 3
    clf = BaggedNetClassifier(member=_Recording, n_members=3, epochs=epochs, batch_size=32, image_size=16,
                              num_workers=0, early_stopping=False, random_state=0, verbose=0)
    clf.fit(IndexImages(n))
    weights = poisson_weights(draw_entropy(0), 3, n)
    mean, std = (torch.tensor(v).view(1, 3) for v in (clf.input_mean_, clf.input_scale_))
    for m, seed in enumerate(clf.member_seeds_):
        pixels = torch.cat(SEEN[seed]).double() * std + mean  # undo the normalisation
        rows = (pixels[:, 0] * 255).round().long() * 256 + (pixels[:, 1] * 255).round().long()
        bag = np.flatnonzero(weights[m] > 0)
        assert len(rows) == epochs * len(bag)  # each in-bag row once per epoch, no out-of-bag row ever
        for epoch in range(epochs):
            np.testing.assert_array_equal(np.sort(rows[epoch * len(bag):(epoch + 1) * len(bag)].numpy()), bag)
        np.testing.assert_array_equal(clf.oob_indices_[m], np.flatnonzero(weights[m] == 0))
        assert len(clf.histories_[m]["loss"]) == epochs


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_photo_folder(tmp_path_factory.mktemp("photos") / "train", per_class=10)


def test_loader_workers_and_member_grouping_do_not_change_the_members(folder):
    kw = dict(member=tiny_cnn, n_members=2, epochs=2, batch_size=8, image_size=24, random_state=0, verbose=0,
              patience=1)
    reference = BaggedNetClassifier(num_workers=0, engine="loop", **kw).fit(folder)
    workers = BaggedNetClassifier(num_workers=2, engine="loop", **kw).fit(folder)
    grouped = BaggedNetClassifier(num_workers=1, engine="joblib", n_jobs=2, **kw).fit(folder)  # loaders in workers
    expected = reference.predict_proba(folder)
    np.testing.assert_allclose(workers.predict_proba(folder), expected, atol=1e-6)
    np.testing.assert_allclose(grouped.predict_proba(folder), expected, atol=1e-6)
    for a, b in zip(reference.histories_, workers.histories_):
        np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-6)


_SCRIPT = """
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
import numpy as np, torch
torch.set_num_threads(1)
import nets
from ensemble import BaggedNetClassifier

class HeldCNN(nets.SmallCNN):
    # While the file `hold` exists and an epoch has been saved, training waits here (to be killed).
    def forward(self, x):
        hold = Path({hold!r})
        while self.training and hold.exists() and list(Path({ckpt!r}).glob("stream_*.json")):
            time.sleep(0.01)
        return super().forward(x)

if __name__ == "__main__":
    folder, ckpt, out, resume = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "resume"
    member = lambda input_shape, n_classes: HeldCNN(input_shape=input_shape, n_classes=n_classes, widths=(4, 8))
    clf = BaggedNetClassifier(member=member, n_members=4, epochs=3, batch_size=8, image_size=24, num_workers=0,
                              patience=2, tta="auto", calibration="temperature", random_state=0, verbose=0)
    clf.fit(folder, checkpoint_dir=ckpt if ckpt != "-" else None, resume=resume)
    np.save(out, clf.predict_proba(folder))
"""


def test_sigkill_mid_fit_then_resume_predicts_as_an_uninterrupted_fit(folder, tmp_path):
    ckpt, hold = tmp_path / "ckpt", tmp_path / "hold"
    script = tmp_path / "fit.py"
    script.write_text(textwrap.dedent(_SCRIPT.format(root=str(ROOT), hold=str(hold), ckpt=str(ckpt))))
    run = lambda *args: [sys.executable, str(script), str(folder), *map(str, args)]
    hold.write_text("")
    killed = subprocess.Popen(run(ckpt, tmp_path / "never.npy", "fresh"), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not list(ckpt.glob("stream_*.json")):  # observed progress: epoch 0 saved, epoch 1 held
        assert killed.poll() is None, killed.stderr.read()
        assert time.monotonic() < deadline, "no epoch checkpoint appeared"
        time.sleep(0.01)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(timeout=60)
    assert killed.returncode == -signal.SIGKILL and not list(ckpt.glob("member_*.json"))
    hold.unlink()
    subprocess.run(run(ckpt, tmp_path / "resumed.npy", "resume"), check=True, timeout=300)
    subprocess.run(run("-", tmp_path / "uninterrupted.npy", "fresh"), check=True, timeout=300)
    resumed, uninterrupted = np.load(tmp_path / "resumed.npy"), np.load(tmp_path / "uninterrupted.npy")
    np.testing.assert_allclose(resumed, uninterrupted, rtol=0, atol=1e-6)
    assert sorted(p.name for p in ckpt.glob("member_*.json")) == [f"member_00{i}.json" for i in range(4)]
    assert not list(ckpt.glob("stream_*"))  # the epoch state is gone once the members are saved


def test_resuming_a_finished_stream_fit_loads_its_members(folder, tmp_path):
    kw = dict(member=functools.partial(tiny_cnn), n_members=2, epochs=1, batch_size=8, image_size=24,
              num_workers=0, random_state=0, verbose=0)
    first = BaggedNetClassifier(**kw).fit(folder, checkpoint_dir=tmp_path / "ckpt")
    again = BaggedNetClassifier(**kw)
    again.fit(folder, checkpoint_dir=tmp_path / "ckpt", resume=True)
    np.testing.assert_array_equal(first.predict_proba(folder), again.predict_proba(folder))
    with pytest.raises(ValueError, match="different run"):
        BaggedNetClassifier(**{**kw, "epochs": 2}).fit(folder, checkpoint_dir=tmp_path / "ckpt", resume=True)
