"""BaggedNetClassifier on photos of mixed sizes: each source kind (folder, files + y, Dataset of PIL / numpy
/ tensor images), the input size stated once, the evaluation views and their one decode per image, bad
input before training, skipped files."""
import numpy as np
import pytest
import torch
from PIL import Image

import augkit as A
import ensemble.engine.photos as photos
from augkit.data import BadImageError, decode_image
from augkit.data.folder import scan_image_folder
from ensemble import BaggedNetClassifier
from ensemble.engine.photos import as_rgb, photo_geometry
from tests.ensemble.photo_folders import CLASSES, make_photo_folder, photo_images, tiny_cnn

pytestmark = pytest.mark.filterwarnings("ignore:.*rows were in every member's bag:UserWarning")  # tiny folders


def quick(**kw):
    params = dict(member=tiny_cnn, n_members=2, epochs=2, batch_size=8, image_size=24, num_workers=0,
                  random_state=0, verbose=0)
    params.update(kw)
    return BaggedNetClassifier(**params)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_photo_folder(tmp_path_factory.mktemp("photos") / "train", per_class=10)


@pytest.fixture(scope="module")
def fitted(folder):
    return quick().fit(folder)


class ImageList(torch.utils.data.Dataset):
    """A map-style Dataset of (image, label) pairs, with or without ``targets``."""

    def __init__(self, pairs, kind, targets=True):
        self.pairs, self.kind = pairs, kind
        if targets:
            self.targets = [label for _, label in pairs]

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        image, label = self.pairs[i]
        if self.kind == "numpy":
            image = np.asarray(image.convert("RGB"))
        elif self.kind == "tensor":
            image = torch.from_numpy(np.asarray(image.convert("L")).copy())[None]  # 1 x H x W
        return image, label


def test_a_folder_trains_with_its_folder_names_as_classes(fitted, folder):
    assert list(fitted.classes_) == list(CLASSES)
    assert fitted.input_spec_.shape == (3, 24, 24) and fitted.input_spec_.resize == 27  # S = round(256 * 24 / 224)
    assert fitted.n_features_in_ == 3 * 24 * 24 and len(fitted.estimators_) == 2
    proba = fitted.predict_proba(folder)
    assert proba.shape == (30, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert 0 <= fitted.oob_score_ <= 1 and fitted.skipped_files_ == []
    assert fitted.score(folder) == pytest.approx((fitted.predict(folder) == np.repeat(CLASSES, 10)).mean())


def test_an_ensemble_fitted_on_photos_saves_loads_and_predicts_photos(fitted, folder, tmp_path):
    fitted.save(tmp_path / "model")
    again = BaggedNetClassifier.load(tmp_path / "model", member=tiny_cnn)
    assert again.input_spec_ == fitted.input_spec_
    np.testing.assert_allclose(again.predict_proba(folder, tta="ten_crop"), fitted.predict_proba(folder, tta="ten_crop"),
                               atol=1e-6)


def test_a_list_of_files_with_y_trains_the_same_members_as_their_folder(fitted, folder):
    _, paths, labels = scan_image_folder(folder)
    from_files = quick().fit(paths, np.asarray(CLASSES)[labels])
    np.testing.assert_allclose(from_files.predict_proba(paths), fitted.predict_proba(folder), atol=1e-6)
    with pytest.raises(ValueError, match="y is required with a list of image files"):
        quick().fit(paths)
    with pytest.raises(ValueError, match="y must be omitted"):
        quick().fit(folder, labels)


@pytest.mark.parametrize("kind, targets", [("pil", True), ("numpy", False), ("tensor", True)])
def test_a_dataset_of_images_of_any_size_and_kind_trains(kind, targets):
    pairs = photo_images(per_class=6, seed=1)
    data = ImageList(pairs, kind, targets)
    clf = quick(n_members=2, epochs=1).fit(data)
    assert list(clf.classes_) == [0, 1, 2]
    proba = clf.predict_proba(data, tta="ten_crop")
    assert proba.shape == (18, 3) and np.all(np.isfinite(proba))


def test_the_input_size_is_stated_once(folder, digits_images):
    crop = A.RandomScaleCrop(32, (36, 48))
    clf = quick(image_size=None, augment=A.Compose([crop, A.HorizontalFlip()]), epochs=1).fit(folder)
    assert clf.input_spec_.shape == (3, 32, 32) and clf.input_spec_.resize == 36
    geometry = photo_geometry(A.Compose([crop, A.HorizontalFlip()]), None)
    assert geometry.crop is crop and geometry.batched.transforms == [A.HorizontalFlip()]
    assert photo_geometry(A.RandomResizedCrop(56), None).resize == 64  # torchvision's 256 / 224
    assert photo_geometry(None, None).size == (112, 112)  # the default
    default = photo_geometry(A.HorizontalFlip(), 112)
    assert default.crop.scale == (128, 240) and default.resize == 128  # ResNet's [256, 480] / 224 halved
    with pytest.raises(ValueError, match=r"image_size=24 but augment starts with RandomScaleCrop of size \(32, 32\)"):
        quick(augment=crop).fit(folder)
    with pytest.raises(ValueError, match="must be augment's first transform"):
        quick(augment=A.Compose([A.HorizontalFlip(), crop])).fit(folder)
    images, y = digits_images
    with pytest.raises(ValueError, match="image_size applies to photos"):
        quick().fit(images[:50], y[:50])
    with pytest.raises(ValueError, match="engine='vmap' stacks members over in-memory arrays"):
        quick(engine="vmap").fit(folder)


def test_the_default_view_is_the_resized_photos_centre_crop(fitted, folder):
    """Its definition computed by hand: shorter side to S (one antialiased resize), centre crop."""
    _, paths, _ = scan_image_folder(folder)
    crops = []
    for path in paths[:6]:
        with Image.open(path) as image:
            width, height = image.size
        scale = 27 / min(width, height)
        decoded = decode_image(path, size=(round(height * scale), round(width * scale)))
        top, left = round((decoded.shape[0] - 24) / 2), round((decoded.shape[1] - 24) / 2)
        crops.append(decoded[top:top + 24, left:left + 24].transpose(2, 0, 1))
    torch.testing.assert_close(fitted.member_probas(paths[:6], tta=None), fitted.member_probas(np.stack(crops), tta=None))


def test_every_view_and_member_comes_from_one_decode_per_photo(fitted, folder, monkeypatch):
    decodes = []
    original = photos.decode_image
    monkeypatch.setattr(photos, "decode_image", lambda path, **kw: decodes.append(path) or original(path, **kw))
    views = {None: 1, "flip": 2, "flip_shift": 10, "ten_crop": 10, "multi_scale": 50}
    for tta in views:
        decodes.clear()
        assert fitted.member_probas(folder, tta=tta).shape == (2, 30, 3)
        assert len(decodes) == 30 == len(set(decodes)), tta
    image = torch.from_numpy(np.asarray(Image.open(sorted(folder.rglob("*.jpg"))[0]).convert("RGB"))).permute(2, 0, 1)
    geometry = photo_geometry(None, 24)
    made = photos.photo_views(image[None], geometry, list(views))
    assert [v.shape for v in made] == [(n, 3, 24, 24) for n in views.values()]


def test_rgb_conversion_of_every_kind_of_image():
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = 200, 128
    assert as_rgb(rgba)[:, 0, 0].tolist() == [100] * 3  # composited on black: round(200 * 128 / 255)
    assert as_rgb(Image.fromarray(rgba, "RGBA"))[:, 0, 0].tolist() == [100] * 3
    gray = Image.fromarray(np.full((4, 5), 77, np.uint8), "L")
    for image in (gray, gray.convert("P"), gray.convert("CMYK"), np.full((4, 5), 77, np.uint8),
                  torch.full((1, 4, 5), 77, dtype=torch.uint8)):
        out = as_rgb(image)
        assert out.shape == (3, 4, 5) and out.dtype == torch.uint8
        assert int((out.int() - 77).abs().max()) <= 1, type(image)
    sixteen = Image.fromarray(np.full((4, 5), 65535, np.uint16))
    assert as_rgb(sixteen)[:, 0, 0].tolist() == [255] * 3
    with pytest.raises(TypeError, match="uint8"):
        as_rgb(np.zeros((4, 5, 3), np.float32))


# ---------------------------------------------------------------- bad input, before training
@pytest.fixture
def bad_folder(tmp_path):
    return make_photo_folder(tmp_path / "train", per_class=5)


def _no_training(monkeypatch):
    monkeypatch.setattr("ensemble.bagging.train", lambda *a, **k: pytest.fail("training started"))


@pytest.mark.parametrize("name, content, reason", [
    ("cut.jpg", lambda data: data[: len(data) // 2], "truncated JPEG"),
    ("empty.jpg", lambda data: b"", "empty file"),
    ("notes.jpg", lambda data: b"these are my notes", "not an image file"),
])
def test_a_bad_file_is_named_before_training(bad_folder, monkeypatch, name, content, reason):
    data = next(bad_folder.rglob("*.jpg")).read_bytes()
    (bad_folder / "china" / name).write_bytes(content(data))
    _no_training(monkeypatch)
    with pytest.raises(BadImageError, match=rf"{name}'.*{reason}.*on_bad_image='skip'"):
        quick().fit(bad_folder)


def test_folders_without_images_are_named_before_training(bad_folder, tmp_path, monkeypatch):
    _no_training(monkeypatch)
    (bad_folder / "zebra").mkdir()
    with pytest.raises(ValueError, match=r"class folder '.*zebra' holds no image file"):
        quick().fit(bad_folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="contains no class folders"):
        quick().fit(empty)
    with pytest.raises(ValueError, match="does not exist"):
        quick().fit(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="do not exist"):
        quick().fit([str(tmp_path / "missing.jpg")], [0])


def test_skip_leaves_out_bad_files_found_before_and_during_training(bad_folder):
    png = next(bad_folder.rglob("*.png"))  # passes the cheap look, fails to decode
    broken = bytearray(png.read_bytes())
    at = broken.find(b"IDAT")
    broken[at + 40:at + 60] = bytes(20)
    png.write_bytes(bytes(broken))
    with pytest.raises(BadImageError, match=rf"{png.name}'.*broken data stream.*on_bad_image='skip' leaves"):
        quick(epochs=1).fit(bad_folder)
    cut = bad_folder / "china" / "cut.jpg"
    cut.write_bytes(next(bad_folder.rglob("*.jpg")).read_bytes()[:400])
    with pytest.warns(UserWarning, match="skipping"):
        clf = quick(on_bad_image="skip", epochs=1).fit(bad_folder)
    assert sorted(clf.skipped_files_) == sorted([str(cut), str(png)])
    _, paths, _ = scan_image_folder(bad_folder)
    bad_rows = [paths.index(str(cut)), paths.index(str(png))]
    assert clf.oob_decision_function_.shape == (16, 3)  # one row per file, none for the skipped ones
    assert np.isnan(clf.oob_decision_function_[bad_rows]).all()
