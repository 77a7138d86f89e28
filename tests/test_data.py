"""Data loaders: real MNIST where present, small files in the official formats otherwise."""
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from falign.data import (class_subset, cifar100_subset, corrupt_labels, data_root, gaussian_data,
                         mnist_available, noisy_mnist, tiny_imagenet_subset)

ROOT = data_root()
HAVE_MNIST = mnist_available(ROOT)
SHARED_TINY = Path(__file__).resolve().parents[2] / "shared" / "data" / "tiny-imagenet-200"


def test_data_root_from_argument_environment_and_default(monkeypatch, tmp_path):
    monkeypatch.delenv("FALIGN_DATA", raising=False)
    assert data_root() == Path("data")
    monkeypatch.setenv("FALIGN_DATA", str(tmp_path))
    assert data_root() == tmp_path
    assert data_root("elsewhere") == Path("elsewhere")


@pytest.mark.parametrize("mode", ["exact", "uniform"])
def test_label_noise_rates(mode):
    y = torch.arange(10).repeat(1000)
    noisy = corrupt_labels(y, 0.2, n_classes=10, seed=1, mode=mode)
    wrong = float((noisy != y).float().mean())
    assert wrong == pytest.approx(0.2 if mode == "exact" else 0.18, abs=0.015)
    assert torch.equal(noisy, corrupt_labels(y, 0.2, n_classes=10, seed=1, mode=mode))


@pytest.mark.skipif(not HAVE_MNIST, reason="MNIST files not in the data root (run `make data`)")
def test_noisy_mnist_subset_noise_on_training_labels_only():
    d = noisy_mnist(n_train=4000, noise=0.2, subset_seed=0, noise_seed=0)
    assert d.train.x.shape == (4000, 784) and len(d.test) == 10000
    assert int(d.noisy_mask.sum()) == 800                      # exactly 20% wrong labels
    assert torch.equal(d.train.y[~d.noisy_mask], d.train_clean.y[~d.noisy_mask])
    assert abs(float(d.train.x.mean())) < 0.1 and float(d.train.x.std()) == pytest.approx(1, abs=0.1)
    other = noisy_mnist(n_train=4000, subset_seed=1, noise_seed=0)
    assert not torch.equal(d.train.x, other.train.x)
    again = noisy_mnist(n_train=4000, noise=0.2, subset_seed=0, noise_seed=0)
    assert torch.equal(d.train.y, again.train.y) and torch.equal(d.train.x, again.train.x)


def test_class_subset_order():
    perm = np.random.default_rng(0).permutation(100)
    assert class_subset(list(range(100)), 10) == [int(i) for i in perm[:10]]
    names = ["n3", "n1", "n2"]                                   # sorted before permuting
    order = np.random.default_rng(5).permutation(3)
    assert class_subset(names, 2, subset_seed=5) == [["n1", "n2", "n3"][i] for i in order[:2]]


def make_fake_cifar100(root: Path, per_class: int = 3) -> None:
    """CIFAR-100 python pickles in the official layout, with few images per class."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        labels = np.repeat(np.arange(100), per_class)
        data = rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)
        data[:, 0] = labels                                      # pixel 0 of red = class id
        batch = {b"filenames": [b"x.png"] * len(labels), b"batch_label": split.encode(),
                 b"fine_labels": labels.tolist(), b"coarse_labels": (labels // 5).tolist(),
                 b"data": data}
        with open(folder / split, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [f"c{i}".encode() for i in range(100)],
                     b"coarse_label_names": [f"s{i}".encode() for i in range(20)]}, f)


def test_cifar100_subset_reads_official_format(tmp_path):
    make_fake_cifar100(tmp_path)
    split = cifar100_subset(tmp_path, n_classes=10, subset_seed=0, download=False, verify=False)
    assert split.x.shape == (30, 3, 32, 32) and split.x.dtype == torch.float32
    chosen = class_subset(list(range(100)), 10, 0)
    # Label k holds the k-th chosen class: recover the class id written into pixel 0.
    red0 = split.x[:, 0, 0, 0] * 0.2673 + 0.5071
    ids = torch.round(red0 * 255).long()
    assert all(int(ids[i]) == chosen[int(split.y[i])] for i in range(len(split)))
    test = cifar100_subset(tmp_path, n_classes=25, train=False, download=False, verify=False)
    assert len(test) == 75 and set(test.y.tolist()) == set(range(25))


def make_fake_tiny_imagenet(root: Path, wnids: list[str], chosen: list[str]) -> None:
    from PIL import Image
    folder = root / "tiny-imagenet-200"
    (folder / "val" / "images").mkdir(parents=True)
    (folder / "wnids.txt").write_text("\n".join(wnids) + "\n")
    lines = []
    for k, w in enumerate(chosen):
        img_dir = folder / "train" / w / "images"
        img_dir.mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (64, 64), (k * 20, i, 0)).save(img_dir / f"{w}_{i}.JPEG")
        Image.new("RGB", (64, 64), (k * 20, 9, 0)).save(folder / "val" / "images" / f"val_{k}.JPEG")
        lines.append(f"val_{k}.JPEG\t{w}\t0\t0\t63\t63")
    (folder / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")


def test_tiny_imagenet_subset_official_layout(tmp_path):
    wnids = [f"n{i:08d}" for i in range(20)]
    chosen = class_subset(wnids, 4, 0)
    make_fake_tiny_imagenet(tmp_path, wnids, chosen)
    train = tiny_imagenet_subset(tmp_path, n_classes=4, split="train")
    val = tiny_imagenet_subset(tmp_path, n_classes=4, split="val")
    assert train.x.shape == (8, 3, 64, 64) and sorted(train.y.tolist()) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert val.y.tolist() == [0, 1, 2, 3]
    from falign.data import DatasetError
    with pytest.raises(DatasetError, match="lacks the train images"):
        tiny_imagenet_subset(tmp_path, n_classes=6, split="train")


@pytest.mark.skipif(not SHARED_TINY.exists(), reason="shared Tiny-ImageNet pool not present")
def test_shared_tiny_imagenet_pool_is_the_first_50_classes():
    wnids = (SHARED_TINY / "wnids.txt").read_text().split()
    pool = {p.name for p in (SHARED_TINY / "train").iterdir()}
    assert set(class_subset(wnids, 50, 0)) == pool


def test_gaussian_data_reproducible():
    a, b = gaussian_data(100, 5, n_classes=3, seed=2), gaussian_data(100, 5, n_classes=3, seed=2)
    assert torch.equal(a.x, b.x) and set(a.y.tolist()) == {0, 1, 2}
