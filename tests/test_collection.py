"""The user's picture folder (alexnet.collection) and the one pass over it (analysis.collection_scan),
checked against torchvision's own AlexNet module and transforms, not against the code's output."""

import os

import pytest
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T

from alexnet.collection import prepared, scan_folder
from alexnet.data import IMAGENET_MEAN, IMAGENET_STD
from alexnet.preprocessing import IMAGENET
from analysis import page_data
from analysis.collection_scan import NoPictures, scan_collection, top9_from_table
from analysis.top9 import top9

from tests.imagenet_fixtures import CLASSES, class_folder, flat_folder, picture


@pytest.fixture(scope="module")
def tv():
    torch.manual_seed(0)
    return torchvision.models.alexnet(weights=None).eval()


def test_a_class_folder_lists_classes_and_labels(tmp_path):
    root = class_folder(tmp_path / "pics", per_class=3)
    (root / "notes.txt").write_text("not listed: not a picture suffix")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.jpg").write_bytes(picture(1))
    c = scan_folder(root)
    assert c.classes == CLASSES and c.labelled
    assert len(c) == 3 * 3 + 1  # the broken .jpg is listed; it is found when decoded
    assert [c.files[i].split("/")[0] for i in range(len(c))] == [CLASSES[y] for y in c.labels]
    assert c.label(0) == f"{CLASSES[0]}/00.jpeg"


def test_a_flat_folder_has_no_classes(tmp_path):
    c = scan_folder(flat_folder(tmp_path / "flat", 5))
    assert c.classes == () and set(c.labels) == {-1} and not c.labelled and len(c) == 5


@pytest.mark.parametrize("make,message", [
    (lambda p: p / "missing", "is not a folder"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "holds no pictures"),
])
def test_a_folder_that_cannot_be_used_says_why(tmp_path, make, message):
    with pytest.raises((FileNotFoundError, ValueError), match=message):
        scan_folder(make(tmp_path))


def test_the_key_changes_when_a_file_in_the_folder_changes(tmp_path):
    root = flat_folder(tmp_path / "flat", 4)
    before = scan_folder(root).digest
    assert scan_folder(root).digest == before  # listing again: the same key
    name = lambda d: page_data.key("collection", "weights-sha", d)  # noqa: E731 - as app/collection.py
    path = root / "p01.jpg"
    path.write_bytes(picture(99, 2))  # another picture under the same name
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    changed = scan_folder(root).digest
    assert changed != before and name(changed) != name(before)
    (root / "p09.jpg").write_bytes(picture(7))  # a picture added
    assert scan_folder(root).digest not in (before, changed)


def reference(files):
    """torchvision's classic transforms on PIL (not this project's pipeline): (N, 3, 224, 224)."""
    t = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    return torch.stack([t(Image.open(f).convert("RGB")) for f in files])


def close(mine, ref) -> bool:
    """Within 0.5% (relative norm): resizing a tensor (ours) and a PIL image (the reference) differ
    by a grey level here and there, and the features are kept in float16 (measured: 0.05%)."""
    return float((mine - ref).norm() / ref.norm()) < 5e-3


def test_the_scan_matches_torchvisions_alexnet(tmp_path, tv):
    root = class_folder(tmp_path / "pics", per_class=4)
    c = scan_folder(root)
    out = scan_collection(tv, c, IMAGENET, batch_size=5)
    assert [c.files[i] for i in range(len(c)) if i not in out["index"].tolist()] == [f"{CLASSES[0]}/broken.jpg"]
    assert out["unreadable"][0][0] == f"{CLASSES[0]}/broken.jpg"
    kept = [root / c.files[i] for i in out["index"].tolist()]
    assert out["labels"].tolist() == [CLASSES.index(f.parent.name) for f in kept]
    x = reference(kept)
    with torch.no_grad():
        act5 = tv.features[:12](x)  # torchvision's numbered stages: conv5 + ReLU
        fc7 = tv.classifier[:6](torch.flatten(tv.avgpool(tv.features(x)), 1))
        act2 = tv.features[:5](x)
    pooled = torch.nn.functional.adaptive_avg_pool2d(act2, 2).flatten(1)
    assert close(out["features"]["act7"].float(), fc7)
    assert close(out["features"]["act2"].float(), pooled)
    t = out["top9"]["act5"]
    strongest = act5.flatten(2).amax(2)  # (N, C)
    assert t["index"].shape == (256, 9)
    assert close(t["value"], strongest.topk(9, dim=0).values.T)


def test_a_flat_folder_keeps_only_the_neighbours_features(tmp_path, tv):
    out = scan_collection(tv, scan_folder(flat_folder(tmp_path / "flat", 6)), IMAGENET)
    assert list(out["features"]) == ["act7"] and out["features"]["act7"].shape == (6, 4096)


def test_top9_from_the_table_is_the_top9_of_the_whole_folder(tmp_path, tv):
    c = scan_folder(class_folder(tmp_path / "pics", per_class=4, broken=False))
    out = scan_collection(tv, c, IMAGENET)
    images = prepared(c, range(len(c)), IMAGENET)[0]
    channel = 7
    whole = top9(tv, "act3", channel, images, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    table = out["top9"]["act3"]
    mine = top9_from_table(tv, table, channel, images[table["index"][channel].long()], IMAGENET_MEAN, IMAGENET_STD)
    assert [int(table["index"][channel][a.image_index]) for a in mine] == [a.image_index for a in whole]
    for a, b in zip(mine, whole):
        assert a.value == pytest.approx(b.value, rel=1e-4) and a.box == b.box
        assert torch.allclose(a.projection, b.projection, atol=1e-5)


def test_a_folder_of_unreadable_files_is_refused_in_one_line(tmp_path, tv):
    root = tmp_path / "bad"
    root.mkdir()
    (root / "a.jpg").write_bytes(b"")
    (root / "b.png").write_bytes(picture(1, fmt="PNG")[:200])
    with pytest.raises(NoPictures, match=r"none of the 2 pictures .* a.jpg: the file is empty") as e:
        scan_collection(tv, scan_folder(root), IMAGENET)
    assert "\n" not in str(e.value)
