"""Datasets of the book: noisy MNIST subsets, n-class CIFAR-100 and Tiny-ImageNet subsets, and
synthetic Gaussian data.

The data root comes from the `root` argument, else the FALIGN_DATA environment variable, else
`data/`.  Online, torchvision downloads MNIST and CIFAR-100 and checks their md5 sums; offline,
a missing or corrupted file raises DatasetError naming the files expected and where to get them.
"""
from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

MNIST_FILES = {  # torchvision.datasets.MNIST.resources
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
CIFAR100_FILES = {"train": "16019d7e3df5f24257cddd939b257f8d",
                  "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
                  "meta": "7973b15100ade9c7d40fb424638fde48"}
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
TINY_IMAGENET_MEAN = (0.4802, 0.4481, 0.3975)
TINY_IMAGENET_STD = (0.2770, 0.2691, 0.2821)
TINY_IMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
TINY_IMAGENET_MD5 = "90528d7ca1a48142e341f4ef8d21d0de"


class DatasetError(RuntimeError):
    """A dataset is missing or corrupted; the message says which files and how to get them."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: `root`, else $FALIGN_DATA, else ./data."""
    return Path(root if root is not None else os.environ.get("FALIGN_DATA", "data"))


def md5sum(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


@dataclass
class Split:
    """Inputs x (N, ...) float32 and integer labels y (N,)."""
    x: torch.Tensor
    y: torch.Tensor

    def __iter__(self):
        return iter((self.x, self.y))

    def __len__(self) -> int:
        return len(self.y)


# ------------------------------------------------------------------------------------ MNIST
def _missing_mnist(raw: Path) -> list[str]:
    return [f for f in MNIST_FILES if not (raw / f).exists()]


def mnist_available(root: str | os.PathLike | None = None) -> bool:
    """Whether all four official MNIST files are in <root>/MNIST/raw (md5s not checked)."""
    return not _missing_mnist(data_root(root) / "MNIST" / "raw")


def _verify_mnist(raw: Path) -> None:
    missing = _missing_mnist(raw)
    if missing:
        raise DatasetError(
            f"MNIST not found: {raw} lacks {', '.join(missing)}. Expected the four official "
            f"files {', '.join(MNIST_FILES)}. Fix: run online once (torchvision downloads "
            "them), or copy them into that folder (this project's `make data` copies them "
            "from ../shared/data/MNIST/raw), or set FALIGN_DATA to a root holding MNIST/raw/.")
    for name, md5 in MNIST_FILES.items():
        got = md5sum(raw / name)
        if got != md5:
            raise DatasetError(
                f"MNIST file {raw / name} is corrupted: md5 {got}, expected {md5}. Fix: delete it "
                "and copy or download the official file again.")


def mnist(root: str | os.PathLike | None = None, *, train: bool = True,
          download: bool = True) -> Split:
    """The MNIST split as uint8-valued float pixels in [0, 255], x (N, 784), y (N,)."""
    import torchvision

    root = data_root(root)
    raw = root / "MNIST" / "raw"
    if any((raw / f).exists() for f in MNIST_FILES) or not download:
        _verify_mnist(raw)
    try:
        ds = torchvision.datasets.MNIST(str(root), train=train, download=download)
    except RuntimeError as err:
        raise DatasetError(
            f"MNIST could not be downloaded into {raw} ({str(err).splitlines()[0]}). Offline, "
            f"copy the official files {', '.join(MNIST_FILES)} into that folder.") from err
    return Split(ds.data.reshape(len(ds.data), -1).float(), ds.targets.clone())


def scale_inputs(x: torch.Tensor, scaling: str) -> torch.Tensor:
    """Pixel scaling of the noisy-MNIST readings: "standardize" ((x/255 - 0.1307) / 0.3081),
    "unit" (x/255 in [0, 1]) or "raw" (0..255)."""
    if scaling == "standardize":
        return (x / 255.0 - MNIST_MEAN) / MNIST_STD
    if scaling == "unit":
        return x / 255.0
    if scaling == "raw":
        return x.clone()
    raise ValueError(f"unknown input scaling {scaling!r}; use standardize, unit or raw")


def corrupt_labels(y: torch.Tensor, rate: float, *, n_classes: int, seed: int,
                   mode: str = "exact") -> torch.Tensor:
    """Label noise on training labels.

    mode="exact": exactly round(rate * N) examples, chosen at random, get a label drawn
    uniformly from the *other* classes (every chosen label is wrong).
    mode="uniform": each example, with probability `rate`, gets a label drawn uniformly from all
    classes (so about rate * (1 - 1/n_classes) of labels end up wrong).
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"noise rate must be in [0, 1], got {rate}")
    rng = np.random.default_rng(seed)
    y_np = y.numpy().copy()
    n = len(y_np)
    if mode == "exact":
        idx = rng.permutation(n)[: int(round(rate * n))]
        shift = rng.integers(1, n_classes, size=len(idx))
        y_np[idx] = (y_np[idx] + shift) % n_classes
    elif mode == "uniform":
        hit = rng.random(n) < rate
        y_np[hit] = rng.integers(0, n_classes, size=int(hit.sum()))
    else:
        raise ValueError(f"unknown noise mode {mode!r}; use exact or uniform")
    return torch.from_numpy(y_np)


@dataclass
class NoisyMNIST:
    train: Split           # labels with noise
    train_clean: Split     # the same images with their true labels
    test: Split            # the clean test set
    noisy_mask: torch.Tensor


def noisy_mnist(root: str | os.PathLike | None = None, *, n_train: int = 4000,
                noise: float = 0.2, subset_seed: int = 0, noise_seed: int = 0,
                input_scaling: str = "standardize", noise_mode: str = "exact",
                n_test: int | None = None, download: bool = True) -> NoisyMNIST:
    """Robertson & Koyejo App. A: a random `n_train` subset of the MNIST training set with
    label noise on the training labels only, and the clean test set (all 10,000 images unless
    n_test is given)."""
    full = mnist(root, train=True, download=download)
    test = mnist(root, train=False, download=download)
    if not 0 < n_train <= len(full):
        raise ValueError(f"n_train must be in 1..{len(full)}, got {n_train}")
    idx = torch.from_numpy(np.random.default_rng(subset_seed).permutation(len(full))[:n_train])
    x = scale_inputs(full.x[idx], input_scaling)
    y_clean = full.y[idx]
    y_noisy = corrupt_labels(y_clean, noise, n_classes=10, seed=noise_seed, mode=noise_mode)
    nt = len(test) if n_test is None else n_test
    xt = scale_inputs(test.x[:nt], input_scaling)
    return NoisyMNIST(Split(x, y_noisy), Split(x, y_clean), Split(xt, test.y[:nt]),
                      y_noisy != y_clean)


# -------------------------------------------------------------------------------- class subsets
def class_subset(classes: list, n_classes: int, subset_seed: int = 0) -> list:
    """The first n classes of numpy.random.default_rng(subset_seed).permutation applied to the
    sorted class list; a subset's label k is the k-th class of that order."""
    ordered = sorted(classes)
    if not 1 <= n_classes <= len(ordered):
        raise ValueError(f"n_classes must be in 1..{len(ordered)}, got {n_classes}")
    perm = np.random.default_rng(subset_seed).permutation(len(ordered))
    return [ordered[i] for i in perm[:n_classes]]


def _normalize(images: np.ndarray, mean, std) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) standardised per channel."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


@dataclass
class ImageSubset:
    """An n-class image subset kept as uint8 (N, H, W, 3) arrays, as stored on disk: the
    network's input is made from it on the device (falign.families.lenet_cifar)."""
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: list                  # label k is classes[k]: CIFAR-100 fine ids or wnids
    dataset: str                   # what it is, in words, for captions and run records


def _cifar100_batch(root: Path, train: bool, download: bool, verify: bool
                    ) -> tuple[np.ndarray, np.ndarray]:
    """One official CIFAR-100 python pickle as uint8 (N, 32, 32, 3) images and fine labels."""
    folder = root / "cifar-100-python"
    if not all((folder / f).exists() for f in CIFAR100_FILES) and download:
        import torchvision
        try:
            torchvision.datasets.CIFAR100(str(root), train=train, download=True)
        except Exception as err:  # offline: URLError / RuntimeError
            raise DatasetError(
                f"CIFAR-100 could not be downloaded into {folder} ({err}). Offline, unpack the "
                "official cifar-100-python.tar.gz (md5 eb9058c3a382ffc7106e4002c42a8d85, from "
                "Krizhevsky's CIFAR page) into the data root.") from err
    missing = [f for f in CIFAR100_FILES if not (folder / f).exists()]
    if missing:
        raise DatasetError(
            f"CIFAR-100 not found: {folder} lacks {', '.join(missing)}. Expected the official "
            "python version (files train, test, meta from cifar-100-python.tar.gz, md5 "
            "eb9058c3a382ffc7106e4002c42a8d85); set FALIGN_DATA or pass root=.")
    if verify:
        for name, md5 in CIFAR100_FILES.items():
            got = md5sum(folder / name)
            if got != md5:
                raise DatasetError(f"CIFAR-100 file {folder / name} is corrupted: md5 {got}, "
                                   f"expected {md5}. Fix: unpack the official archive again.")
    try:
        with open(folder / ("train" if train else "test"), "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        images = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch[b"fine_labels"])
    except (pickle.UnpicklingError, KeyError, ValueError, EOFError) as err:
        raise DatasetError(f"CIFAR-100 file in {folder} is not in the official format: {err}. "
                           "Fix: unpack the official archive again.") from err
    return images.transpose(0, 2, 3, 1), labels


def cifar100_images(root: str | os.PathLike | None = None, *, n_classes: int = 10,
                    subset_seed: int = 0, download: bool = True, verify: bool = True,
                    per_class: tuple[int | None, int | None] = (None, None)) -> ImageSubset:
    """n classes of CIFAR-100 (fine labels) from the official python pickles in
    <root>/cifar-100-python/, as uint8 train and test images.  verify=False skips the md5 check
    (for small files in the official format made by tests); per_class caps the images kept per
    class in (train, test), for smoke runs."""
    root = data_root(root)
    chosen = class_subset(list(range(100)), n_classes, subset_seed)
    parts = []
    for train, cap in zip((True, False), per_class):
        images, labels = _cifar100_batch(root, train, download, verify)
        keep = np.concatenate([np.flatnonzero(labels == c)[:cap] for c in chosen])
        keep.sort()
        remap = {c: k for k, c in enumerate(chosen)}
        parts += [images[keep], np.array([remap[c] for c in labels[keep]], dtype=np.int64)]
    return ImageSubset(*parts, classes=chosen, dataset="CIFAR-100")


def cifar100_subset(root: str | os.PathLike | None = None, *, n_classes: int = 10,
                    subset_seed: int = 0, train: bool = True, download: bool = True,
                    verify: bool = True) -> Split:
    """n-class CIFAR-100 subset, normalised with the dataset's per-channel constants."""
    sub = cifar100_images(root, n_classes=n_classes, subset_seed=subset_seed,
                          download=download, verify=verify)
    images, labels = ((sub.train_images, sub.train_labels) if train
                      else (sub.test_images, sub.test_labels))
    return Split(_normalize(images, CIFAR100_MEAN, CIFAR100_STD), torch.from_numpy(labels))


# ------------------------------------------------------------------------------- Tiny-ImageNet
def cache_dir() -> Path:
    """Where decoded images are cached: $FALIGN_CACHE, else ~/.cache/falign."""
    return Path(os.environ.get("FALIGN_CACHE", Path.home() / ".cache" / "falign"))


def _tiny_folder(root: str | os.PathLike | None, download: bool) -> Path:
    root = data_root(root)
    folder = root / "tiny-imagenet-200"
    if not (folder / "wnids.txt").exists() and download:
        from torchvision.datasets.utils import download_and_extract_archive
        try:
            download_and_extract_archive(TINY_IMAGENET_URL, str(root), md5=TINY_IMAGENET_MD5)
        except Exception as err:
            raise DatasetError(f"Tiny-ImageNet could not be downloaded ({err}).") from err
    if not (folder / "wnids.txt").exists():
        raise DatasetError(
            f"Tiny-ImageNet not found: {folder / 'wnids.txt'} is missing. Expected the official "
            f"tiny-imagenet-200 layout (zip md5 {TINY_IMAGENET_MD5}, {TINY_IMAGENET_URL}); set "
            "FALIGN_DATA or pass root= (../shared/data holds a 50-class pool).")
    return folder


def tiny_imagenet_classes(root: str | os.PathLike | None = None, *, present: bool = True,
                          download: bool = False) -> list[str]:
    """The wnids of wnids.txt, sorted; present=True keeps those with a train folder (a
    partial copy such as the 50-class pool holds only some)."""
    folder = _tiny_folder(root, download)
    wnids = sorted((folder / "wnids.txt").read_text().split())
    return [w for w in wnids if (folder / "train" / w).is_dir()] if present else wnids


def _tiny_files(folder: Path, wnid: str, split: str) -> list[Path]:
    if split == "train":
        files = sorted((folder / "train" / wnid / "images").glob("*.JPEG"))
    elif split == "val":
        ann = folder / "val" / "val_annotations.txt"
        if not ann.exists():
            raise DatasetError(f"Tiny-ImageNet at {folder} has no {ann.name}; the validation "
                               "images cannot be labelled. Fix: restore the official val folder.")
        names = sorted(line.split("\t")[0] for line in ann.read_text().splitlines()
                       if line.strip() and line.split("\t")[1] == wnid)
        files = [folder / "val" / "images" / name for name in names]
    else:
        raise ValueError(f"split must be 'train' or 'val', not {split!r}")
    if not files:
        raise DatasetError(f"Tiny-ImageNet at {folder} lacks the {split} images of class "
                           f"{wnid}; a partial copy holds only some classes (draw subsets from "
                           "tiny_imagenet_classes(present=True)).")
    return files


def _decode(files: list[Path], resolution: int) -> np.ndarray:
    """JPEGs -> uint8 (N, res, res, 3); below 64 px downsampled with an antialiasing filter
    (bilinear with antialias=True, i.e. a triangle filter as wide as the scale factor)."""
    from PIL import Image

    images = np.empty((len(files), 64, 64, 3), dtype=np.uint8)
    for i, path in enumerate(files):
        try:
            with Image.open(path) as im:
                images[i] = np.asarray(im.convert("RGB"))
        except (OSError, ValueError) as err:
            raise DatasetError(f"Tiny-ImageNet image {path} is missing or corrupted ({err}). "
                               "Fix: copy that file again from the official archive.") from err
    if resolution == 64:
        return images
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    x = torch.nn.functional.interpolate(x, size=(resolution, resolution), mode="bilinear",
                                        antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def tiny_imagenet_class(folder: Path, wnid: str, split: str, resolution: int = 64) -> np.ndarray:
    """One class's images of a split as uint8 (N, res, res, 3), decoded once and cached under
    cache_dir(), keyed by the SHA-256 of the source files (a changed source is decoded anew)."""
    files = _tiny_files(folder, wnid, split)
    h = hashlib.sha256()
    for path in files:
        h.update(path.name.encode())
        try:
            h.update(path.read_bytes())
        except OSError as err:
            raise DatasetError(f"Tiny-ImageNet image {path} cannot be read ({err}).") from err
    cached = cache_dir() / "tiny-imagenet" / f"{split}-{resolution}px-{wnid}-{h.hexdigest()[:16]}.npy"
    if cached.exists():
        return np.load(cached)
    images = _decode(files, resolution)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, images)
    os.replace(tmp, cached)
    return images


def tiny_imagenet_images(root: str | os.PathLike | None = None, *, n_classes: int = 10,
                         subset_seed: int = 0, resolution: int = 64, present: bool = False,
                         download: bool = False,
                         per_class: tuple[int | None, int | None] = (None, None)) -> ImageSubset:
    """n classes of Tiny-ImageNet from the official layout <root>/tiny-imagenet-200/
    (train/<wnid>/images/*.JPEG; val/images + val_annotations.txt, the test set as in App. A),
    as uint8 images at `resolution` (64, or lower: downsampled, antialiased).  Classes are
    drawn by class_subset from the sorted wnids (present=True: only those with a train
    folder); per_class caps the images kept per class in (train, test)."""
    folder = _tiny_folder(root, download)
    pool = tiny_imagenet_classes(root, present=present)
    if n_classes > len(pool):
        raise ValueError(f"n_classes={n_classes} but {folder} holds {len(pool)} classes"
                         + (" with training images" if present else ""))
    chosen = class_subset(pool, n_classes, subset_seed)
    parts = []
    for split, cap in zip(("train", "val"), per_class):
        blocks = [tiny_imagenet_class(folder, w, split, resolution)[:cap] for w in chosen]
        parts += [np.concatenate(blocks),
                  np.concatenate([np.full(len(b), k, dtype=np.int64) for k, b in enumerate(blocks)])]
    name = "Tiny-ImageNet" if resolution == 64 else f"Tiny-ImageNet downsampled to {resolution}x{resolution}"
    return ImageSubset(*parts, classes=chosen, dataset=name)


def tiny_imagenet_subset(root: str | os.PathLike | None = None, *, n_classes: int = 10,
                         subset_seed: int = 0, split: str = "train",
                         download: bool = False) -> Split:
    """n-class Tiny-ImageNet subset at 64 px, normalised with Tiny-ImageNet's constants."""
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', not {split!r}")
    sub = tiny_imagenet_images(root, n_classes=n_classes, subset_seed=subset_seed,
                               download=download)
    images, labels = ((sub.train_images, sub.train_labels) if split == "train"
                      else (sub.test_images, sub.test_labels))
    return Split(_normalize(images, TINY_IMAGENET_MEAN, TINY_IMAGENET_STD),
                 torch.from_numpy(labels))


def gaussian_data(n: int, dim: int, *, n_classes: int = 2, separation: float = 3.0,
                  seed: int = 0) -> Split:
    """Synthetic Gaussian mixture: class means ~ N(0, separation^2 / dim I), unit noise."""
    gen = torch.Generator().manual_seed(seed)
    means = torch.randn(n_classes, dim, generator=gen) * separation / dim ** 0.5
    y = torch.randint(0, n_classes, (n,), generator=gen)
    x = means[y] + torch.randn(n, dim, generator=gen) / dim ** 0.5
    return Split(x, y)
