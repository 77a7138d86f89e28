"""Spot check of the committed paper-profile results: the first 50 epochs of one stored run,
recomputed here on the CPU from its stored specification, match its stored measurements."""
import numpy as np
import pytest

from falign.data import data_root, mnist_available
from falign.families.noisy_mnist import PROFILES, initial_conditioning, replay
from falign.notebooks import CHAPTERS
from falign.store import ResultStore, spec_key

HAVE_MNIST = mnist_available()
STORE = ResultStore(CHAPTERS.parent / "results", "noisy_mnist_paper")


def stored_spec(width: int, rule: str) -> dict:
    for spec in PROFILES["paper"].run_specs():
        if spec["width"] == width and spec["rule"] == rule and STORE.has(spec):
            return spec
    pytest.fail(f"no stored paper-profile run of width {width} with rule {rule} under "
                f"{STORE.folder}: the committed results are missing")


@pytest.mark.skipif(not HAVE_MNIST, reason="MNIST files not in the data root (run `make data`)")
@pytest.mark.parametrize("width,rule", [(15, "fa"), (200, "bp")])
def test_first_50_epochs_of_a_stored_paper_run_recompute(width, rule):
    spec = stored_spec(width, rule)
    record, stored = STORE.load(spec)
    ours = replay(spec, epochs=50, device="cpu")
    stored = stored[stored.epoch <= 50].reset_index(drop=True)
    assert ours.epoch.tolist() == stored.epoch.tolist() == list(range(0, 51, 5))
    # Same code, same seeds: agreement to float32 round-off (looser on another device's runs).
    same_device = record["provenance"]["device"].startswith("cpu")
    rtol = 2e-4 if same_device else 2e-3
    for column in stored.columns:
        if column.endswith("_acc"):                       # one image may flip on a GPU
            np.testing.assert_allclose(ours[column], stored[column], atol=1e-3, err_msg=column)
        else:
            np.testing.assert_allclose(ours[column], stored[column], rtol=rtol, atol=1e-6,
                                       err_msg=column)
    # and the check can fail: the run after one more epoch is not the stored one
    moved = replay(spec, epochs=55, device="cpu")
    assert not np.allclose(moved.loc[moved.epoch == 55, "weight_norm_1"],
                           stored.loc[stored.epoch == 50, "weight_norm_1"], rtol=1e-6)


def test_rebuilt_initial_networks_are_the_stored_runs_starting_points():
    # Table 3's conditioning analysis rebuilds each run's t = 0 network from its seeds; that is
    # only meaningful if it is the network the stored run began from. Epoch 0's stored layer
    # potential (sum of P_j(0), no biases in this reading) must match for every stored run.
    protocol = PROFILES["paper"]
    conditioning = initial_conditioning(protocol).set_index("run_key")
    checked = 0
    for spec in protocol.run_specs():
        if not STORE.has(spec):
            continue
        _, stored = STORE.load(spec)
        assert conditioning.loc[spec_key(spec), "p0_sum"] == pytest.approx(
            stored.potential_1.iloc[0], rel=1e-4, abs=1e-5)
        checked += 1
    assert checked >= 40, f"only {checked} stored paper-profile runs under {STORE.folder}"
    # The run the Table 3 chapter singles out: one sign-FA neuron starts almost exactly at zero.
    worst = conditioning.loc[conditioning.min_abs_p0.idxmin()]
    assert (worst["rule"], worst["width"], worst["repeat"]) == ("signfa", 45, 5)
    assert worst.min_abs_p0 < 1e-5


LENET_STORE = ResultStore(CHAPTERS.parent / "results", "lenet_cifar")
HAVE_TINY = (data_root() / "tiny-imagenet-200" / "wnids.txt").exists()


@pytest.mark.skipif(not HAVE_TINY, reason="Tiny-ImageNet pool not in the data root (run `make data`)")
def test_first_epochs_of_a_stored_lenet_run_recompute():
    from falign.families import lenet_cifar
    from falign.sweep import RunContext
    spec = next((s for s in lenet_cifar.run_specs(lenet_cifar.PROFILES["paper"])
                 if LENET_STORE.has(s)), None)
    if spec is None:
        pytest.fail(f"no stored LeNet paper-protocol run under {LENET_STORE.folder}")
    record, stored = LENET_STORE.load(spec)
    assert record["provenance"]["data"]["classes"] == lenet_cifar.run_images(spec).classes
    ours = lenet_cifar.train_one({**spec, "epochs": 2}, RunContext(progress=False)).measurements
    stored = stored[stored.epoch <= 2].reset_index(drop=True)
    assert ours.epoch.tolist() == stored.epoch.tolist() == [0, 1, 2]
    for column in stored.columns:
        np.testing.assert_allclose(ours[column], stored[column], rtol=1e-4, atol=1e-5,
                                   err_msg=column)
