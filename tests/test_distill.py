"""Knowledge distillation (--teachers): the loss against its hand-derived gradient,
the soft targets against the teachers' own outputs, a student that follows a
teacher trained on swapped labels rather than its own labels, exact resumes,
and the refusals."""

import json
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from alexnet.checkpoint import CheckpointError, load_checkpoint
from alexnet.distill import Soft, Teachers, training_loss
from alexnet.model import AlexNet, AlexNetConfig
from alexnet.preprocessing import FOR_VARIANT
from alexnet.step import sgd_step
from alexnet.train import main
from alexnet.weights import load_path, sha256
from tests.synthetic_data import make_image_folder

SMALL = ["--dataset", "folder", "--widths", "8,16,16,16,16,32,32", "--init", "kaiming",
         "--threads", "1", "--batch-size", "8", "--schedule", "constant", "--lr", "0.01"]
CLASSES = ("class0", "class1", "class2", "class3")

pytestmark = pytest.mark.usefixtures("isolated_cache")  # image_folder: 64 train, 64 val images


def _run(folder, out, *extra):
    main(["--data-dir", str(folder), "--out", str(out), *SMALL, *extra])
    return Path(out) / "last.pt"


def _metrics(out):
    rows = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.fixture(scope="module")
def teacher(image_folder, tmp_path_factory):
    """A small net trained 3 epochs on image_folder."""
    return _run(image_folder, tmp_path_factory.mktemp("teacher") / "run", "--epochs", "3", "--dropout", "0")


# the loss ---------------------------------------------------------------------

@pytest.mark.parametrize("weight, temperature, smoothing", [(0.9, 4.0, 0.0), (0.5, 1.0, 0.1), (1.0, 2.5, 0.05)])
def test_loss_and_its_gradient_are_the_hand_derived_ones(weight, temperature, smoothing):
    g = torch.Generator().manual_seed(0)
    z = (3 * torch.randn(6, 5, generator=g, dtype=torch.float64)).requires_grad_()
    y = torch.randint(0, 5, (6,), generator=g)
    p = torch.softmax(torch.randn(6, 5, generator=g, dtype=torch.float64), 1)
    loss = training_loss(z, y, smoothing, Soft(p, temperature, weight))
    loss.backward()
    # By hand: target t = (1 - e) onehot + e / C; CE = -sum t log softmax(z); the soft term is
    # T^2 KL(p || softmax(z / T)) = T^2 sum p (log p - log q_T), whose gradient in z is T (q_T - p).
    b, c = z.shape
    t = (1 - smoothing) * F.one_hot(y, c).double() + smoothing / c
    q, q_t = torch.softmax(z.detach(), 1), torch.softmax(z.detach() / temperature, 1)
    ce = -(t * torch.log(q)).sum() / b
    kl = (p * (torch.log(p) - torch.log(q_t))).sum() / b
    torch.testing.assert_close(loss.detach(), (1 - weight) * ce + weight * temperature ** 2 * kl)
    grad = ((1 - weight) * (q - t) + weight * temperature * (q_t - p)) / b
    torch.testing.assert_close(z.grad, grad)


def test_without_soft_targets_the_loss_is_the_papers_cross_entropy():
    z, y = torch.randn(4, 3), torch.tensor([0, 2, 1, 1])
    torch.testing.assert_close(training_loss(z, y), F.cross_entropy(z, y))


def _tiny_net(seed=0):
    torch.manual_seed(seed)
    return AlexNet(AlexNetConfig(variant="cifar", num_classes=4, widths=(8, 16, 16, 16, 16, 32, 32),
                                 init="kaiming", dropout=0.0))


@pytest.mark.parametrize("weight, labels_matter", [(1.0, False), (0.5, True)])
def test_with_all_weight_on_the_teachers_the_labels_do_not_move_the_weights(weight, labels_matter):
    x = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    probs = torch.softmax(torch.randn(8, 4, generator=torch.Generator().manual_seed(2)), 1)
    after = []
    for y in (torch.tensor([0, 1, 2, 3] * 2), torch.tensor([3, 2, 1, 0] * 2)):
        net = _tiny_net()
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        sgd_step(net.train(), opt, x, y, soft=Soft(probs, 2.0, weight))
        after.append(net.state_dict())
    same = all(torch.equal(after[0][k], after[1][k]) for k in after[0])
    assert same is not labels_matter


# the teachers -----------------------------------------------------------------

def test_soft_targets_are_the_teachers_mean_softmax_at_the_temperature(image_folder, teacher, tmp_path):
    other = _run(image_folder, tmp_path / "other", "--epochs", "1", "--seed", "5")
    teachers = Teachers([str(teacher), str(other)], FOR_VARIANT["cifar"])
    teachers.check_classes(CLASSES)
    assert teachers.files == [{"path": str(p), "sha256": sha256(p)} for p in (teacher, other)]
    x = torch.randn(5, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    soft = teachers.soft(x, temperature=3.0, weight=0.7)
    with torch.no_grad():
        each = [torch.softmax(load_path(p).model(x) / 3.0, 1) for p in (teacher, other)]
    torch.testing.assert_close(soft.probs, (each[0] + each[1]) / 2)
    assert (soft.temperature, soft.weight) == (3.0, 0.7)
    assert not torch.allclose(each[0], each[1], atol=1e-3)  # two different teachers were averaged


def test_teachers_cast_to_bf16_once_give_autocasts_soft_targets(teacher):
    """A bf16 run casts the teachers' weights once (Teachers.to); autocast over the
    float32 teachers, the reference, casts them at every call to the same numbers."""
    x = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    for layout in (torch.contiguous_format, torch.channels_last):
        autocast = Teachers([str(teacher)], FOR_VARIANT["cifar"]).to("cpu", layout)
        once = Teachers([str(teacher)], FOR_VARIANT["cifar"]).to("cpu", layout, torch.bfloat16)
        assert all(p.dtype == torch.bfloat16 for p in once.nets[0].parameters())
        assert all(p.dtype == torch.float32 for p in autocast.nets[0].parameters())
        xl = x.contiguous(memory_format=layout)
        ref, got = autocast.soft(xl, 2.0, 0.5, bf16=True), once.soft(xl, 2.0, 0.5, bf16=True)
        torch.testing.assert_close(got.probs, ref.probs, rtol=0, atol=0)
        assert got.probs.dtype == torch.float32
    full = Teachers([str(teacher)], FOR_VARIANT["cifar"]).soft(x, 2.0, 0.5)  # float32 throughout
    assert not torch.equal(full.probs, ref.probs)  # bf16 does change the numbers: the test can fail


def test_a_student_follows_its_teacher_over_its_own_labels(image_folder, tmp_path):
    """A teacher trained where class0's images are filed as class1 (and so on round the
    four) passes that mapping to a student trained on the true folders with all the
    weight on the teacher: the student calls the val images what the teacher does."""
    names = ["class1", "class2", "class3", "class0"]  # class_image(c) filed under names[c]
    swapped = make_image_folder(tmp_path / "swapped", per_class=16, names=names)
    wrong = _run(swapped, tmp_path / "teacher", "--epochs", "4", "--dropout", "0")
    assert _metrics(tmp_path / "teacher")[-1]["val_top1_error"] < 0.25  # it learnt the swapped names
    _run(image_folder, tmp_path / "student", "--epochs", "4", "--dropout", "0", "--teachers", str(wrong),
         "--distill-weight", "1", "--distill-temperature", "1")
    rows = _metrics(tmp_path / "student")
    assert rows[-1]["val_top1_error"] > 0.75  # wrong on the true labels: it learnt the teacher's
    _run(image_folder, tmp_path / "labels", "--epochs", "4", "--dropout", "0")
    assert _metrics(tmp_path / "labels")[-1]["val_top1_error"] < 0.25  # the labels alone teach the truth


@pytest.mark.parametrize("precision", ["fp32", "bf16"])  # bf16: teachers cast once, on resume too
def test_a_distilled_run_resumes_exactly_with_its_teachers_wherever_they_now_are(image_folder, teacher,
                                                                                tmp_path, precision):
    full = _run(image_folder, tmp_path / "full", "--epochs", "3", "--teachers", str(teacher),
                "--precision", precision)
    moved = tmp_path / "moved.pt"
    shutil.copyfile(teacher, moved)
    part = _run(image_folder, tmp_path / "part", "--epochs", "2", "--teachers", str(teacher),
                "--precision", precision)
    main(["--resume", str(part), "--epochs", "3", "--threads", "1", "--teachers", str(moved)])
    a, b = load_checkpoint(full), load_checkpoint(part)
    assert b["epoch"] == 3 and b["teachers"][0]["sha256"] == a["teachers"][0]["sha256"] == sha256(teacher)
    for k in a["model"]:
        torch.testing.assert_close(b["model"][k], a["model"][k], rtol=0, atol=1e-6)
    assert _metrics(tmp_path / "part") == _metrics(tmp_path / "full")


def test_resuming_with_other_teachers_or_none_where_there_were_none_is_refused(image_folder, teacher,
                                                                              tmp_path):
    other = _run(image_folder, tmp_path / "other", "--epochs", "1", "--seed", "5")
    part = _run(image_folder, tmp_path / "part", "--epochs", "1", "--teachers", str(teacher))
    with pytest.raises(SystemExit, match=r"was distilled from .*teacher.*the --teachers files now differ"):
        main(["--resume", str(part), "--epochs", "2", "--threads", "1", "--teachers", str(other)])
    with pytest.raises(SystemExit, match=r"was trained without --teachers: resume it without them"):
        main(["--resume", str(other), "--epochs", "2", "--threads", "1", "--teachers", str(teacher)])


@pytest.mark.parametrize("extra, message", [
    (["--distill-weight", "0"], r"--distill-weight is the soft targets' share of the loss, in \(0, 1\]; got 0.0"),
    (["--distill-weight", "1.5"], r"in \(0, 1\]; got 1.5"),
    (["--distill-temperature", "0"], r"--distill-temperature must be a positive number, got 0.0"),
])
def test_bad_distillation_settings_fail_clearly(image_folder, tmp_path, extra, message):
    with pytest.raises(SystemExit, match=message):
        main(["--data-dir", str(image_folder), "--out", str(tmp_path / "a"), *SMALL, *extra])


def test_a_missing_teacher_is_refused_before_the_data_is_read(tmp_path):
    with pytest.raises(CheckpointError, match=r"checkpoint .*nowhere.pt does not exist"):
        main(["--data-dir", str(tmp_path / "no-data-here"), "--out", str(tmp_path / "a"), *SMALL,
              "--teachers", str(tmp_path / "nowhere.pt")])
    assert not (tmp_path / "a").exists()


def test_a_teacher_of_other_classes_is_refused(image_folder, tmp_path):
    five = make_image_folder(tmp_path / "five", classes=5, per_class=4)
    stranger = _run(five, tmp_path / "five-run", "--epochs", "1")
    with pytest.raises(ValueError, match=r"teacher .* predicts the classes class0, .*class4, not this "
                                         r"run's \(class0, class1, class2, class3\): give teachers trained "
                                         r"on the same dataset"):
        main(["--data-dir", str(image_folder), "--out", str(tmp_path / "a"), *SMALL,
              "--teachers", str(stranger)])


def test_a_teacher_fed_other_images_than_the_run_is_refused(teacher):
    with pytest.raises(ValueError, match=r"teacher .* was trained on 32x32 images normalised by mean .*; "
                                         r"this run feeds 224x224 .* give teachers of the same variant"):
        Teachers([str(teacher)], FOR_VARIANT["imagenet"])
