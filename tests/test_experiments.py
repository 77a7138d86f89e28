"""The noisy-MNIST sweep: specifications, resumption, stored provenance."""
import functools

import pytest
import torch

from falign.data import mnist_available
from falign.families import noisy_mnist
from falign.families.noisy_mnist import PROFILES, build_model, with_reading
from falign.chapters import load_results
from falign.sweep import run_sweep
from falign.store import ResultStore

HAVE_MNIST = mnist_available()


def test_paper_profile_matches_appendix_a():
    p = PROFILES["paper"]
    specs = p.run_specs()
    assert len(specs) == 10 * 4 * 6
    cfg = p.config("cpu", progress=False)
    assert cfg.milestones == (1000, 2000, 3000, 4000, 5000)
    assert (cfg.lr, cfg.momentum, cfg.weight_decay, cfg.epochs) == (0.05, 0.05, 0.0, 6000)
    assert [round(cfg.lr_at(e), 10) for e in (0, 999, 1000, 5999)] == [0.05, 0.05, 0.005, 5e-7]
    assert specs[0]["repeat"] == 0 and specs[-1]["repeat"] == 5
    same_group = [s for s in specs if s["width"] == 15 and s["repeat"] == 2]
    assert len({(s["init_seed"], s["subset_seed"]) for s in same_group}) == 1   # paired runs


def test_build_model_initialisation_readings():
    spec = {**PROFILES["paper"].run_specs()[0], "width": 100}
    fan_in = build_model(spec)
    width = build_model({**spec, "init": "width"})
    fan_in_max = fan_in[0].weight.detach().abs().max().item()
    width_max = width[0].weight.detach().abs().max().item()
    assert fan_in_max <= 1 / 784 ** 0.5
    assert 1 / 784 ** 0.5 < width_max <= 1 / 100 ** 0.5
    with pytest.raises(ValueError, match="unknown init"):
        build_model({**spec, "init": "xavier"})


@pytest.mark.skipif(not HAVE_MNIST, reason="MNIST files not in the data root (run `make data`)")
def test_smoke_sweep_resumes_without_retraining(tmp_path):
    store = ResultStore(tmp_path, "noisy_mnist_smoke")
    protocol = with_reading(PROFILES["smoke"], widths=(15,), rules=("fa", "bp"))
    assert len(run_sweep(noisy_mnist, protocol, store, progress=False).trained) == 2
    first = {r["key"]: r["provenance"]["finished_utc"] for r, _ in store.runs()}
    assert len(run_sweep(noisy_mnist, protocol, store, progress=False).trained) == 0        # nothing left to do
    assert {r["key"]: r["provenance"]["finished_utc"] for r, _ in store.runs()} == first
    table = store.table(rule="fa")
    assert table.epoch.tolist() == [0, 5, 10, 15, 20]
    assert {"train_loss", "test_acc", "cos_wb_2", "neuron_deviation_1"} <= set(table.columns)


def test_bias_and_feedback_readings_build_what_they_say():
    spec = {**PROFILES["paper"].run_specs()[0], "width": 60, "bias": True, "bias_init": "one",
            "feedback_init": "xavier", "rule": "fa"}
    model = build_model(spec)
    assert torch.all(model[0].bias.detach() == 1.0) and torch.all(model[2].bias.detach() == 1.0)
    b2 = model[2].feedback                                  # (10, 60): Glorot bound sqrt(6/70)
    bound = (6 / 70) ** 0.5
    assert float(b2.abs().max()) <= bound and float(b2.abs().max()) > 0.9 * bound
    plain = build_model({**spec, "feedback_init": "fan_in"})[2].feedback
    assert float(plain.abs().max()) <= 1 / 60 ** 0.5 < 0.9 * bound
    assert torch.equal(build_model(spec)[2].feedback, b2)                 # seeded
    other = build_model({**spec, "feedback_seed": spec["feedback_seed"] + 1})[2].feedback
    assert not torch.equal(other, b2)
    # Glorot feedback is a property of FA's random B only: adaFA's B is still W(0)
    ada = build_model({**spec, "rule": "adafa"})
    assert torch.equal(ada[2].feedback, ada[2].weight)
    with pytest.raises(ValueError, match="unknown bias_init"):
        build_model({**spec, "bias_init": "zero"})


def test_paper_profile_is_the_chosen_reading():
    from falign.families.noisy_mnist import CHOSEN_READING, READINGS, NoisyMNISTProtocol
    from dataclasses import replace
    assert PROFILES["paper"] == replace(NoisyMNISTProtocol(), **READINGS[CHOSEN_READING])
    # quick is the paper's schedule on a smaller grid: its runs are paper runs
    from falign.store import spec_key
    quick = {spec_key(s) for s in PROFILES["quick"].run_specs()}
    assert len(quick) == 24 and quick <= {spec_key(s) for s in PROFILES["paper"].run_specs()}
    assert noisy_mnist.store_name("quick") == noisy_mnist.store_name("paper")
    for name in ("quick", "smoke"):                      # smaller, same reading
        for field, value in READINGS[CHOSEN_READING].items():
            assert getattr(PROFILES[name], field) == value


def test_chapter_loader_names_the_fix_for_bad_input(tmp_path):
    from falign.families.noisy_mnist import readings_results
    noisy_mnist_results = functools.partial(load_results, "noisy_mnist")
    with pytest.raises(ValueError, match="unknown profile 'papr'.*paper"):
        noisy_mnist_results("papr", tmp_path)
    with pytest.raises(ValueError, match=r"unknown protocol field\(s\) \['widht'\]"):
        noisy_mnist_results("smoke", tmp_path, overrides={"widht": [15]})
    with pytest.raises(FileNotFoundError, match="falign.runs train noisy_mnist --profile smoke"):
        noisy_mnist_results("smoke", tmp_path)
    with pytest.raises(FileNotFoundError, match="train_missing=True"):
        readings_results("smoke", tmp_path)


@pytest.mark.skipif(not HAVE_MNIST, reason="MNIST files not in the data root (run `make data`)")
def test_loader_sees_only_its_own_protocol(tmp_path):
    noisy_mnist_results = functools.partial(load_results, "noisy_mnist")
    small = noisy_mnist_results("smoke", tmp_path, device="cpu", train_missing=True,
                                overrides={"widths": [15], "rules": ["fa"]})
    assert (small.stored, small.expected, small.complete) == (1, 1, True)
    # Choosing widths or rules does not change a run's specification: the full smoke profile
    # finds that run among its own 8 and does not retrain it.
    full = noisy_mnist_results("smoke", tmp_path)
    assert (full.stored, full.expected, full.complete) == (1, 8, False)
    assert "1 of 8 runs" in full.status()
    # a changed protocol field is a different run, not found in the store
    with pytest.raises(FileNotFoundError, match="no stored runs"):
        noisy_mnist_results("smoke", tmp_path, overrides={"lr": 0.01, "widths": [15]})
