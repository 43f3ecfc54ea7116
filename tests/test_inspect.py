"""Inside a trained network (issue 23, items 1 and 2), on real runs trained by
the real CLI: a finished run keeps its best-validation parameters (and `gc`
keeps them), the API and `export-model` give them back as a network that
predicts what the run stored, in a fresh interpreter without the store; and
`convlab inspect --json` pins the numbers: the layers equal the engine's
forward pass, the probabilities sum to 1 and match the stored prediction, the
saliency equals autograd's input gradient through an independent network of
torch's own layers, and a PNG of a test digit is classified as that digit."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from convlab import api
from convlab.inspect import image as images
from convlab.inspect import weights
from convlab.results import pictures
from convlab.results.pictures import digits_grey, png
from convlab.store import Store

from helpers import assert_user_error, cli_env, run_convlab

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Runs 1 and 2: relu (two conv-pool layers), batched repeats; 3: their vote;
    4: shallow on 5,000 images (good enough to read a picture of a digit)."""
    folder = tmp_path_factory.mktemp("inspect")
    store = folder / "convlab.sqlite"

    def cli(*args):
        result = run_convlab(*args, cwd=folder, store=store)
        assert result.returncode == 0, result.stderr
        return result

    cli("run", "relu", "--epochs", "2", "--train-limit", "500", "--seed", "1", "--repeats", "2", "--threads", "1")
    cli("ensemble", "1", "2")
    cli("run", "shallow", "--epochs", "1", "--train-limit", "5000", "--seed", "3", "--repeats", "1", "--threads", "1")
    return folder, store


def inspect_json(lab, *args):
    folder, store = lab
    result = run_convlab("inspect", *args, "--json", cwd=folder, store=store)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# ---------------------------------------------------------------- item 1: the weights kept


def test_a_finished_run_keeps_its_best_weights_and_gc_keeps_them(lab, mnist):
    folder, path = lab
    with Store(path) as store:
        run = store.run(1)
        epoch, blob = store.weights(1)
        assert epoch == run.best_epoch
        assert store.checkpoint(1) is not None
    assert run_convlab("gc", cwd=folder, store=path).returncode == 0
    with Store(path) as store:
        assert store.checkpoint(1) is None and store.weights(1) == (epoch, blob)  # gc dropped only the checkpoint
        net = api.network(store, 1)
        assert net.spec.name == "relu" and isinstance(net, torch.nn.Module)
        x = torch.from_numpy(mnist.test.images).float().div(255).reshape(-1, 1, 28, 28)
        with torch.no_grad():
            predicted = torch.cat([net(x[i : i + 1000]).argmax(1) for i in range(0, len(x), 1000)]).numpy()
        assert (predicted == store.predictions(1)).all()  # the network whose predictions were stored
        members = api.network(store, 3)
        assert [m.spec.name for m in members] == ["relu", "relu"]


def test_an_exported_model_loads_in_a_fresh_interpreter_without_the_store(lab, tmp_path):
    folder, path = lab
    model = tmp_path / "run1.pt"
    result = run_convlab("export-model", "1", "-o", model, cwd=folder, store=path)
    assert result.returncode == 0, result.stderr
    assert "run 1" in result.stdout and model.exists()
    with Store(path) as store:
        np.save(tmp_path / "stored.npy", store.predictions(1))
    code = f"""
import sys, numpy as np, torch
from convlab.inspect.trained import load_model
from convlab.data.mnist import load_mnist
net = load_model({str(model)!r})
x = torch.from_numpy(load_mnist().test.images).float().div(255).reshape(-1, 1, 28, 28)
with torch.no_grad():
    got = net(x).argmax(1).numpy()
assert (got == np.load({str(tmp_path / "stored.npy")!r})).all(), "predictions differ"
assert "convlab.store" not in sys.modules, "the store was imported"
plain = torch.load({str(model)!r}, weights_only=True)  # torch alone reads it too
assert plain["spec"]["name"] == "relu" and plain["run"] == 1 and "layers.0.w" in plain["state_dict"]
print("ok", net.meta["epoch"])
"""
    env = {k: v for k, v in cli_env().items() if k != "CONVLAB_STORE"}
    env["CONVLAB_STORE"] = str(tmp_path / "absent" / "none.sqlite")  # no store to read
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok")


# ---------------------------------------------------------------- item 2: inspect pins the numbers


def torch_network(state: dict[str, np.ndarray], x: torch.Tensor) -> list[torch.Tensor]:
    """relu's network from torch's own layers (not the engine's): each layer's output."""
    t = {k: torch.from_numpy(v) for k, v in state.items()}
    outs = []
    for i in (0, 1):
        x = torch.relu(F.max_pool2d(F.conv2d(x, t[f"layers.{i}.w"]), 2) + t[f"layers.{i}.b"].view(1, -1, 1, 1))
        outs.append(x)
    x = torch.relu(x.flatten(1) @ t["layers.2.w"] + t["layers.2.b"])
    outs.append(x)
    outs.append(x @ t["layers.3.w"] + t["layers.3.b"])
    return outs


def test_inspect_json_equals_the_engine_forward_pass_and_autograd(lab, mnist):
    _, path = lab
    n = 7
    d = inspect_json(lab, "1", "--digit", str(n))
    with Store(path) as store:
        state = weights.decode(store.weights(1)[1])
        stored = int(store.predictions(1)[n])
    image = mnist.test.images[n].astype(np.float32) / 255
    assert d["label"] == int(mnist.test.labels[n]) and d["stored_prediction"] == stored
    assert np.allclose(d["input"], image)
    x = torch.from_numpy(image).reshape(1, 1, 28, 28).requires_grad_(True)
    pool1, pool2, fc, logits = torch_network(state, x)
    names = [layer["name"] for layer in d["layers"]]
    assert names == ["conv 1", "pool 1", "conv 2", "pool 2", "fc 1"]
    by_name = {layer["name"]: np.array(layer["values"]) for layer in d["layers"]}
    assert by_name["conv 1"].shape == (20, 24, 24) and by_name["conv 2"].shape == (40, 8, 8)
    assert np.allclose(by_name["pool 1"], pool1[0].detach(), atol=1e-5)
    assert np.allclose(by_name["pool 2"], pool2[0].detach(), atol=1e-5)
    assert np.allclose(by_name["fc 1"], fc[0].detach(), atol=1e-5)
    conv1 = torch.relu(
        F.conv2d(x, torch.from_numpy(state["layers.0.w"])) + torch.from_numpy(state["layers.0.b"]).view(1, -1, 1, 1)
    )
    assert np.allclose(by_name["conv 1"], conv1[0].detach(), atol=1e-5)
    # the probabilities: a distribution whose argmax is the stored prediction
    p = np.array(d["probabilities"])
    assert p.sum() == pytest.approx(1.0, abs=1e-9) and (p >= 0).all()
    assert int(p.argmax()) == d["predicted"] == stored
    assert np.allclose(p, torch.softmax(logits[0].double(), 0).detach(), atol=1e-6)
    assert [k for k, _ in d["top"]] == list(np.argsort(-p)[:3])
    # the saliency: |∂z_c/∂x| for the predicted class c, as autograd gives it
    (grad,) = torch.autograd.grad(logits[0, d["predicted"]], x)
    assert np.allclose(d["saliency"], grad[0, 0].abs(), atol=1e-6)
    assert np.array(d["saliency"]).any()


def test_a_png_of_a_test_digit_is_classified_as_that_digit(lab, mnist, tmp_path):
    _, path = lab
    with Store(path) as store:
        right = np.flatnonzero(store.predictions(4) == mnist.test.labels)[:4]
    for n in right:
        digit = mnist.test.images[n]
        picture = tmp_path / f"digit-{n}.png"
        picture.write_bytes(png(digits_grey([digit], columns=1), scale=3))  # dark ink on white, 3× larger
        made = images.from_file(picture)
        assert np.abs(made - digit / 255).mean() < 0.01  # MNIST's own recipe gives back nearly the digit
        d = inspect_json(lab, "4", "--image", str(picture))
        assert d["predicted"] == int(mnist.test.labels[n]), n
        assert d["source"] == {"image": str(picture)} and d["label"] is None


def test_a_vote_shows_each_member_and_lists_where_they_disagree(lab, mnist):
    folder, path = lab
    d = inspect_json(lab, "3", "--digit", "0")
    assert [m["run"] for m in d["members"]] == [1, 2]
    with Store(path) as store:
        one, two, voted = (store.predictions(r) for r in (1, 2, 3))
    assert [m["predicted"] for m in d["members"]] == [int(one[0]), int(two[0])]
    assert d["predicted"] == d["stored_prediction"] == int(voted[0])
    split = inspect_json(lab, "3", "--split")
    assert [s["index"] for s in split] == np.flatnonzero(one != two).tolist()
    assert all(s["votes"] == {"1": int(one[s["index"]]), "2": int(two[s["index"]])} for s in split)
    text = run_convlab("inspect", "3", "--split", cwd=folder, store=path)
    assert f"{len(split)} test digits on which the members of vote 3 disagree" in text.stdout


def test_inspect_prints_pictures_and_probabilities(lab):
    folder, path = lab
    result = run_convlab("inspect", "1", "--digit", "3", cwd=folder, store=path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for caption in (
        "test digit #3",
        "input · saliency",
        "conv 1: 20 maps of 24×24 after activation",
        "pool 1: 20 maps of 12×12 after pooling",
        "conv 2: 40 maps",
        "fc 1: 100 units",
        "top three:",
    ):
        assert caption in out, caption


# ---------------------------------------------------------------- item 4: the HTML report


class Page(HTMLParser):
    """The report's images (alt → data) and h3 headings."""

    def __init__(self):
        super().__init__()
        self.images, self.headings, self._heading = [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            head, payload = attrs["src"].split(",", 1)
            assert head.startswith("data:")  # self-contained
            self.images.append((attrs.get("alt", ""), base64.b64decode(payload)))
        elif tag == "h3":
            self._heading = ""

    def handle_data(self, data):
        if self._heading is not None:
            self._heading += data

    def handle_endtag(self, tag):
        if tag == "h3" and self._heading is not None:
            self.headings.append(self._heading)
            self._heading = None


def png_pixels(data: bytes) -> np.ndarray:
    """The grey pixels of a PNG as results/pictures.py writes them (8-bit, filter 0)."""
    import struct
    import zlib

    w, h = struct.unpack(">II", data[16:24])
    body, pos = b"", 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            body += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return np.frombuffer(zlib.decompress(body), np.uint8).reshape(h, w + 1)[:, 1:]


def test_the_html_report_shows_the_most_confident_mistakes_from_inside(lab):
    """`export -o report.html` of the relu runs and their vote: for the vote and
    each run, the eight mistakes its kept network was surest of, most confident
    first, with the probabilities the network gives, and the saliency and
    first-layer maps `convlab inspect` computes for that digit."""
    folder, path = lab
    out = folder / "report.html"
    result = run_convlab("export", "1", "2", "3", "-o", str(out), cwd=folder, store=path)
    assert result.returncode == 0, result.stderr
    page = Page()
    page.feed(out.read_text(encoding="utf-8"))
    heads = [h for h in page.headings if "most confident mistakes" in h]
    assert [int(re.search(r"mistakes of run (\d+)", h).group(1)) for h in heads][0] == 3
    assert len(heads) == 3 and "members' mean" in heads[0]
    with Store(path) as store:
        for run_id in (1, 2, 3):
            shown = [(alt, data) for alt, data in page.images if alt.startswith(f"confident mistake of run {run_id}: ")]
            wrong = store.mistakes(run_id)
            nets = np.atleast_1d(api.network(store, run_id))
            x = torch.from_numpy(np.stack([m.image for m in wrong])).float().div(255).reshape(-1, 1, 28, 28)
            with torch.no_grad():
                probs = np.mean([torch.softmax(n(x).double(), 1).numpy() for n in nets], axis=0)
            sure = probs[np.arange(len(wrong)), [m.predicted for m in wrong]]
            order = np.argsort(-sure, kind="stable")[:8]
            assert len(shown) == min(8, len(wrong)) == len(order)
            for (alt, data), k in zip(shown, order, strict=True):
                m = wrong[k]
                got = re.search(r": test digit (\d+): (\d) → (\d) \(([\d.]+)%\)$", alt)
                assert got and [int(g) for g in got.groups()[:3]] == [m.index, m.label, m.predicted]
                assert float(got.group(4)) == pytest.approx(100 * sure[k], abs=0.06)
                assert np.array_equal(png_pixels(data)[::2, ::2], 255 - m.image)
    first = int(re.search(r"test digit (\d+)", next(a for a, _ in page.images if "mistake of run 1:" in a)).group(1))
    d = inspect_json(lab, "1", "--digit", str(first))
    pictures_of = {alt: data for alt, data in page.images}
    saliency = png_pixels(pictures_of[f"saliency of run 1, test digit {first}"])
    want = png_pixels(pictures.saliency_png(np.array(d["saliency"])))
    assert np.abs(saliency.astype(int) - want).max() <= 1  # the report keeps 4 decimals
    maps = png_pixels(pictures_of[f"first-layer maps of run 1, test digit {first}"])
    want = png_pixels(pictures.maps_png(np.array(d["layers"][0]["values"])))
    assert np.abs(maps.astype(int) - want).max() <= 1


# ---------------------------------------------------------------- bad input


def test_bad_input_is_one_line_and_exit_2(lab, tmp_path):
    folder, path = lab
    with Store(path) as store:
        stopped = store.create_run(store.run(1).spec, group_id=None)
        store.finish(stopped, "interrupted", error="stopped by request")
        # a run finished before this change: no weights row, its checkpoint dropped by gc
        old = store.create_run(store.run(4).spec, group_id=None)
        store.finish(old, "finished")
    (tmp_path / "note.png").write_text("not a picture")
    blank = tmp_path / "blank.png"
    blank.write_bytes(png(np.full((28, 28), 255, np.uint8)))

    def bad(*args):
        return run_convlab(*args, cwd=folder, store=path)

    assert_user_error(bad("inspect", str(stopped), "--digit", "1"), f"run {stopped} is interrupted", "resume")
    assert_user_error(bad("inspect", "1", "--image", str(tmp_path / "note.png")), "not an image", "PNG or JPEG")
    assert_user_error(bad("inspect", "1", "--image", str(tmp_path / "absent.png")), "no such file")
    assert_user_error(bad("inspect", "1", "--image", str(blank)), "no digit found")
    assert_user_error(bad("inspect", "1", "--digit", "10000"), "--digit 10000", "0 to 9999")
    assert_user_error(bad("inspect", "1", "--digit", "-1"), "--digit -1")
    assert_user_error(bad("inspect", str(old), "--digit", "1"), f"run {old} finished before", "train it again")
    assert_user_error(bad("export-model", str(old), "-o", str(tmp_path / "m.pt")), "finished before")
    assert_user_error(bad("inspect", "1", "--split"), "not a vote")
    assert_user_error(bad("inspect", "1"), "--digit")
    assert_user_error(bad("export-model", "3", "-o", str(tmp_path / "m.pt")), "a vote")
    assert not (tmp_path / "m.pt").exists()
