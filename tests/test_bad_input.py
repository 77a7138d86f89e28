"""Bad input ends in an error that names the cause and the fix."""
import gzip

import pytest
import torch
from torch import nn

import falign
from falign.data import DatasetError, MNIST_FILES, cifar100_subset, mnist, tiny_imagenet_subset
from falign.models import two_layer_mlp


def test_unknown_rule_lists_valid_rules():
    with pytest.raises(ValueError, match="unknown learning rule 'feedback'.*bp, fa, adafa, signfa, frsf, brsf, dfa, mdfa"):
        falign.convert(two_layer_mlp(4, 3, 2), "feedback")


def test_unsupported_layer_is_named():
    net = nn.Sequential(nn.Conv1d(2, 3, 3), nn.Flatten(), nn.Linear(3, 2))
    with pytest.raises(TypeError, match=r"layer '0' of type Conv1d.*nn.Linear and nn.Conv2d"):
        falign.convert(net, "fa")
    with pytest.raises(TypeError, match="no nn.Linear or nn.Conv2d"):
        falign.convert(nn.Sequential(nn.ReLU()), "fa")
    with pytest.raises(ValueError, match="already converted"):
        falign.convert(falign.convert(two_layer_mlp(4, 3, 2), "fa"), "bp")


def test_direct_rule_without_measurable_feedback():
    from falign.measurements import layer_alignment
    net = falign.convert(two_layer_mlp(4, 3, 2), "dfa", example_input=torch.randn(1, 4))
    with pytest.raises(ValueError, match="direct rule 'dfa'"):
        layer_alignment(net)


def test_missing_mnist_names_files_and_fix(tmp_path):
    with pytest.raises(DatasetError, match=r"MNIST not found.*train-images-idx3-ubyte.gz.*make data"):
        mnist(tmp_path, download=False)


def test_corrupted_mnist_file_is_named(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_FILES:
        with gzip.open(raw / name, "wb") as f:
            f.write(b"not mnist")
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.gz is corrupted: md5 \w+, expected f68b3c2d"):
        mnist(tmp_path)


def test_missing_cifar_and_tiny_imagenet(tmp_path):
    with pytest.raises(DatasetError, match=r"CIFAR-100 not found.*train, test, meta"):
        cifar100_subset(tmp_path, download=False)
    with pytest.raises(DatasetError, match=r"Tiny-ImageNet not found.*wnids.txt"):
        tiny_imagenet_subset(tmp_path)


def test_corrupted_cifar_detected(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name in ("train", "test", "meta"):
        (folder / name).write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="corrupted: md5"):
        cifar100_subset(tmp_path, download=False)
    with pytest.raises(DatasetError, match="not in the official format"):
        cifar100_subset(tmp_path, download=False, verify=False)


def test_bad_config_values():
    from falign.training import TrainConfig
    with pytest.raises(ValueError, match="loss_reduction"):
        TrainConfig(epochs=1, lr=0.1, loss_reduction="median")
    with pytest.raises(ValueError):
        TrainConfig(epochs=1, lr=-1.0)


def test_an_override_of_the_wrong_type_names_the_field_and_an_example(tmp_path):
    from falign.chapters import load_results
    with pytest.raises(ValueError, match=r"override epochs='ten' has the wrong type: the field "
                                         r"holds int values \(the smoke profile has \d+\)"):
        load_results("noisy_mnist", "smoke", tmp_path, overrides={"epochs": "ten"})
    with pytest.raises(ValueError, match=r"override widths=\('15',\) has the wrong type"):
        load_results("noisy_mnist", "smoke", tmp_path, overrides={"widths": ["15"]})
    with pytest.raises(FileNotFoundError, match="no stored runs"):  # right types get through
        load_results("noisy_mnist", "smoke", tmp_path, overrides={"widths": [15], "lr": 1})


def test_an_interrupted_chapter_execution_leaves_the_rendered_notebook_as_it_was(tmp_path,
                                                                                 monkeypatch):
    import papermill

    from falign.notebooks import CHAPTERS, execute_chapter
    rendered = tmp_path / "fig2_conservation.ipynb"
    rendered.write_text("the notebook as last rendered")

    def interrupted(source, output, **kwargs):             # a few cells in, then Ctrl-C
        with open(output, "w") as f:
            f.write('{"cells": [half')
        raise KeyboardInterrupt

    monkeypatch.setattr(papermill, "execute_notebook", interrupted)
    with pytest.raises(KeyboardInterrupt):
        execute_chapter("fig2_conservation", rendered, source_dir=CHAPTERS)
    assert rendered.read_text() == "the notebook as last rendered"
    assert [p.name for p in tmp_path.iterdir()] == ["fig2_conservation.ipynb"]
