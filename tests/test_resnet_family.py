"""The ResNet-18 / Tiny-ImageNet family (Table 2): App. A's protocol, torchvision's network with
every Conv2d and Linear converted and batch norm trained by its own local gradient, classes
drawn from the official wnids, the decode cache, errors that name their fix, and a seeded run
that repeats exactly."""
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

import falign
from falign.data import DatasetError, class_subset, tiny_imagenet_images
from falign.families import resnet_tiny_imagenet as resnet
from falign.store import ResultStore, spec_key
from falign.sweep import run_sweep
from test_lenet_family import make_fake_tiny


def smoke_spec(**change):
    return {**resnet.run_specs(resnet.PROFILES["smoke"])[0], **change}


@pytest.fixture
def full_tiny(tmp_path, monkeypatch):
    """A generated copy of the official layout with every class of its wnids.txt present
    (8 classes, 6 training and 2 validation images each)."""
    monkeypatch.setenv("FALIGN_CACHE", str(tmp_path / "cache"))
    folder, _ = make_fake_tiny(tmp_path, n_classes=5, train=6, val=2,
                               present=[f"n{i:08d}" for i in range(8)])
    return tmp_path, folder


def test_paper_profile_is_appendix_a_and_quick_keeps_its_schedule():
    paper, quick = resnet.PROFILES["paper"], resnet.PROFILES["quick"]
    assert (paper.n_classes, paper.repeats, paper.epochs, paper.batch_size) == ((10, 25, 50), 4, 50, 512)
    assert (paper.lr, paper.momentum, paper.weight_decay) == (0.01, 0.9, 1e-4)
    assert (paper.milestones, paper.gamma, paper.resolution) == ((20, 40), 0.5, 64)
    assert (paper.normalization, paper.augmentation, paper.drop_last) == ("train_subset", "none", True)
    assert replace(quick, n_classes=paper.n_classes, repeats=paper.repeats) == paper
    specs = resnet.run_specs(paper)
    assert len(specs) == 48
    assert {spec_key(s) for s in resnet.run_specs(quick)} <= {spec_key(s) for s in specs}
    assert {(s["n_classes"], s["repeat"]) for s in specs[:24]} == {(n, k) for n in (10, 25, 50) for k in (0, 1)}
    with pytest.raises(ValueError, match="resolution 128 is not a reading"):
        resnet.run_specs(replace(paper, resolution=128))


def test_resnet18_is_torchvisions_with_every_conv_and_linear_converted():
    names = resnet.layer_names()
    assert len(names) == 21 and names[0] == "conv1" and names[-1] == "fc"
    assert sum("downsample" in n for n in names) == 3
    model = resnet.build_model(smoke_spec(rule="fa", n_classes=7))
    assert model.fc.out_features == 7
    converted = falign.feedback_layers(model)
    assert len(converted) == 21
    assert not any(type(m) in (nn.Conv2d, nn.Linear) for m in model.modules())
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 20 and all(type(m) is nn.BatchNorm2d for m in bns)
    for layer in converted:                          # Xavier-uniform W and (FA) B
        fan_in, fan_out = falign.rules.fan_in_out(layer.weight)
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        for t in (layer.weight.detach(), layer.feedback):
            assert t.abs().max() <= bound and t.abs().max() > 0.8 * bound
        assert not torch.equal(layer.feedback, layer.weight.detach())
    assert torch.all(model.fc.bias == 0)
    # the 64-px input shrinks to 2x2 before the average pool (ImageNet stem)
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 7)


def test_batch_norm_is_trained_by_its_own_local_gradient():
    """Under FA the error reaching a batch-norm layer is FA's, not the gradient; what BN does
    with it is its own exact gradient: dL/dgamma = sum(delta * x_hat), dL/dbeta = sum(delta)
    over batch and space, with x_hat the batch-normalised input (training mode)."""
    torch.manual_seed(0)
    model = resnet.build_model(smoke_spec(rule="fa", n_classes=3)).double()
    for m in model.modules():                        # keep BN's output intact for its hook
        if isinstance(m, nn.ReLU):
            m.inplace = False
    bn = model.layer2[0].bn1
    seen = {}

    def capture(module, inputs, output):
        seen["x"] = inputs[0].detach()
        output.register_hook(lambda g: seen.update(delta=g.detach()))

    bn.register_forward_hook(capture)
    x = torch.randn(6, 3, 32, 32, dtype=torch.float64)
    nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 0, 1, 2])).backward()
    mean = seen["x"].mean((0, 2, 3), keepdim=True)
    var = seen["x"].var((0, 2, 3), unbiased=False, keepdim=True)
    x_hat = (seen["x"] - mean) / torch.sqrt(var + bn.eps)
    torch.testing.assert_close(bn.weight.grad, (seen["delta"] * x_hat).sum((0, 2, 3)))
    torch.testing.assert_close(bn.bias.grad, seen["delta"].sum((0, 2, 3)))
    # ... and the error it receives is FA's: with the true gradient it would differ
    fa_delta = seen["delta"].clone()
    model.zero_grad()
    with falign.true_gradient(model):
        nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 0, 1, 2])).backward()
    assert not torch.allclose(seen["delta"], fa_delta)


def test_bp_resnet_matches_autograd_on_torchvisions_network():
    spec = smoke_spec(rule="bp", n_classes=4)
    ours = resnet.build_model(spec).double()
    plain = falign.models.resnet18(num_classes=4, seed=spec["init_seed"]).double()
    x = torch.randn(3, 3, 32, 32, dtype=torch.float64)
    y = torch.tensor([0, 3, 1])
    for net in (ours, plain):
        nn.functional.cross_entropy(net(x), y).backward()
    for (name, a), (_, b) in zip(ours.named_parameters(), plain.named_parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, msg=name)


def test_subsets_come_from_the_official_wnids_and_name_missing_classes(full_tiny, tmp_path):
    root, folder = full_tiny
    wnids = sorted((folder / "wnids.txt").read_text().split())
    spec = smoke_spec(n_classes=3, subset_seed=5, train_per_class=None, test_per_class=None)
    assert resnet.run_classes(spec, str(root)) == class_subset(wnids, 3, 5)
    sub = resnet.run_images(spec, str(root))
    assert sub.classes == class_subset(wnids, 3, 5)
    assert sub.train_images.shape == (18, 32, 32, 3) and sub.test_images.shape == (6, 32, 32, 3)
    with pytest.raises(DatasetError, match="n_classes=9 but this copy .* holds 8 of its 8 classes"):
        resnet.run_classes({**spec, "n_classes": 9}, str(root))
    # a pool that lacks one of the drawn classes says which and what to do
    import shutil
    shutil.rmtree(folder / "train" / sub.classes[1])
    with pytest.raises(DatasetError, match=f"draws 1 class.*{sub.classes[1]}.*full download"):
        resnet.run_classes(spec, str(root))
    with pytest.raises(DatasetError, match="n_classes=8 but this copy .* holds 7 of its 8"):
        resnet.run_classes({**spec, "n_classes": 8}, str(root))
    # a missing folder names the expected layout
    with pytest.raises(DatasetError, match="wnids.txt is missing.*official"):
        resnet.run_classes(spec, str(tmp_path / "elsewhere"))


def test_native_resolution_decodes_exactly_and_is_cached_by_source(full_tiny):
    from PIL import Image
    root, folder = full_tiny
    sub = tiny_imagenet_images(str(root), n_classes=2, subset_seed=1, resolution=64)
    first = sorted((folder / "train" / sub.classes[0] / "images").glob("*.JPEG"))[0]
    assert np.array_equal(sub.train_images[0], np.asarray(Image.open(first).convert("RGB")))
    val_files = [line.split("\t")[0] for line in
                 (folder / "val" / "val_annotations.txt").read_text().splitlines()
                 if line.split("\t")[1] == sub.classes[0]]
    val0 = np.asarray(Image.open(folder / "val" / "images" / sorted(val_files)[0]).convert("RGB"))
    assert np.array_equal(sub.test_images[0], val0)
    cached = sorted((root / "cache").rglob("*64px*.npy"))
    assert len(cached) == 4                             # 2 classes x (train, val)
    Image.fromarray(np.full((64, 64, 3), 7, np.uint8)).save(first)
    again = tiny_imagenet_images(str(root), n_classes=2, subset_seed=1, resolution=64)
    assert again.train_images[0].max() <= 9 and len(sorted((root / "cache").rglob("*64px*.npy"))) == 5


def test_a_seeded_run_repeats_exactly_and_records_its_data(full_tiny):
    root, _ = full_tiny
    protocol = replace(resnet.PROFILES["smoke"], rules=("signfa",), n_classes=(3,),
                       train_per_class=6, test_per_class=2, batch_size=8, epochs=1)
    tables = []
    for k in range(2):
        store = ResultStore(root / f"r{k}", resnet.NAME)
        run_sweep(resnet, protocol, store, data_root=str(root), progress=False)
        (record, table), = store.runs()
        tables.append(table)
    assert tables[0].equals(tables[1])
    data = record["provenance"]["data"]
    assert data["n_train"] == 18 and data["n_test"] == 6 and data["classes_present"] == 8
    assert len(data["classes"]) == 3 and record["spec"]["resolution"] == 32
    assert {f"cos_wb_{n}" for n in resnet.layer_names()} <= set(table.columns)
    # the weights moved: a measured epoch is a trained epoch
    assert table.weight_norm_fc.iloc[-1] != table.weight_norm_fc.iloc[0]
