"""Options beyond the book, each against its definition: chapter 3's momentum
and its halve-on-plateau η schedule, Simard et al.'s elastic distortions; a run
using them all (with `patience`) resumes exactly; the presets beyond the book
load, run from the CLI and stay out of the book's rows."""

from __future__ import annotations

import base64
import io
import json
import math
import re
from xml.etree import ElementTree

import pytest
import torch
import torch.nn.functional as F

from convlab.book import handwritten, trainer
from convlab.book.checkpoint import Position
from convlab.book.model import Network
from convlab.book.trainer import (
    Trainer,
    eta_at,
    fused_momentum,
    momentum_update,
    schedule_ended,
    schedule_step,
    sgd_step,
)
from convlab.config.spec import load, parse_text
from convlab.data import distort
from convlab.errors import UserError
from convlab.results import report
from convlab.results.export import html as html_export
from convlab.runs import events
from convlab.store import Store

from helpers import assert_user_error, small_tensors

CPU = torch.device("cpu")
pytestmark = pytest.mark.usefixtures("single_thread")


def spec_text(train: str = "", layers: str = "") -> str:
    return f"""
name = "opt"
[train]
activation = "relu"
eta = 0.05
lmbda = 0.1
{train}
[[layers]]
type = "conv_pool"
maps = 3
{layers}
[[layers]]
type = "fc"
n_out = 12
[[layers]]
type = "softmax"
"""


# ---------------------------------------------------------------- momentum


@pytest.mark.parametrize("pool", ["theano", "torch"])  # gradients written by hand, or by autograd
def test_momentum_steps_equal_the_hand_computed_ones(mnist, pool):
    """v ← μv − η(∇C₀ + (λ/n)w) on weights, v ← μv − η∇C₀ on biases; p ← p + v."""
    spec = parse_text(spec_text())
    net = Network(spec.layers, pool)
    net.init_(5)
    tensors = small_tensors(mnist, 20, 10)
    eta, decay, mu = 0.05, 0.1 / 2, 0.9
    start = [p.detach().clone() for p in net.book_params()]

    # by hand: gradients from autograd of the plain cost, then the definition
    w = [p.clone().requires_grad_() for p in start]
    v = [torch.zeros_like(p) for p in start]
    for i in range(2):
        xb, yb = tensors.train_x[10 * i : 10 * i + 10], tensors.train_y[10 * i : 10 * i + 10]
        ref = Network(spec.layers, pool)
        with torch.no_grad():
            for p, q in zip(ref.book_params(), w, strict=True):
                p.copy_(q)
        grads = torch.autograd.grad(F.cross_entropy(ref(xb, train=True), yb), ref.book_params())
        with torch.no_grad():
            for k, (g, p) in enumerate(zip(grads, w, strict=True)):
                full = g + decay * p if k % 2 == 0 else g  # L2 on weights only
                v[k] = mu * v[k] - eta * full
                p += v[k]

    velocity = [torch.zeros_like(p) for p in start]
    for i in range(2):
        xb, yb = tensors.train_x[10 * i : 10 * i + 10], tensors.train_y[10 * i : 10 * i + 10]
        sgd_step(net, net.book_params(), net.weights(), xb, yb, eta, decay, None, velocity, mu)
    for p, q in zip(net.book_params(), w, strict=True):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-5, atol=1e-6)
    for a, b in zip(velocity, v, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_the_fused_and_the_foreach_momentum_updates_agree(mnist):
    """torch's fused SGD kernel fed −η·∇C₀ (the CPU's and CUDA's path) and the
    foreach update (other devices), with its gradients its own to overwrite or
    not, give the same parameters and velocity after steps with L2 and dropout;
    the foreach one leaves gradients that are not its own as they were. The
    hand-computed test above pins the fused one to the definition."""
    assert trainer.FUSED_SGD  # this torch has the kernel, so sgd_step on the CPU takes it
    spec = parse_text(spec_text().replace("n_out = 12", "n_out = 12\ndropout = 0.5"))
    tensors = small_tensors(mnist, 200, 10)
    eta, decay, mu = 0.05, 0.1 / 200, 0.9
    trained = []
    for update in ("fused", "foreach, own", "foreach, borrowed"):
        net = Network(spec.layers, "theano")
        net.init_(4)
        params, gen = net.book_params(), torch.Generator().manual_seed(2)
        velocity = [torch.zeros_like(p) for p in params]
        for i in range(20):
            xb, yb = tensors.train_x[10 * i : 10 * i + 10], tensors.train_y[10 * i : 10 * i + 10]
            _, grads = handwritten.loss_and_grads(net, xb, yb, gen, -eta if update == "fused" else 1.0)
            given = [g.clone() for g in grads]
            with torch.no_grad():
                if update == "fused":
                    fused_momentum(params, list(grads), velocity, eta * decay, mu)
                else:
                    momentum_update(params, list(grads), velocity, eta, decay, mu, update == "foreach, own")
            if update == "foreach, borrowed":
                assert all(torch.equal(a, b) for a, b in zip(grads, given, strict=True))
        trained.append([t.detach().clone() for t in [*params, *velocity]])
    for other in trained[1:]:
        for a, b in zip(trained[0], other, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- the schedule


def test_halve_on_plateau_eta_sequence_and_last_epoch():
    """A scripted validation curve: new bests in epochs 1–3, then none. With
    schedule_patience 2, η halves after epochs 5, 7, 9, … and the run ends when
    η would reach η₀/8 (eta_floor 0.125): after the third halving, epoch 9."""
    spec = parse_text(
        spec_text('eta_schedule = "halve_on_plateau"\nschedule_patience = 2\neta_floor = 0.125\nepochs = 50')
    )
    p, etas, last = Position(), [], None
    best_curve = [True, True, True] + [False] * 47
    for epoch, new_best in enumerate(best_curve, 1):
        if schedule_ended(spec, p):
            break
        etas.append(eta_at(spec, epoch, p.halvings))
        schedule_step(spec, p, new_best)
        last = epoch
    assert etas == [0.05] * 5 + [0.025] * 2 + [0.0125] * 2
    assert last == 9
    # the book's default floor, η₀/128, is reached after seven halvings
    default = parse_text(spec_text('eta_schedule = "halve_on_plateau"'))
    assert default.train.schedule_patience == 10 and default.train.eta_floor == 1 / 128
    assert not schedule_ended(default, Position(halvings=6)) and schedule_ended(default, Position(halvings=7))


def test_a_new_best_restarts_the_plateau_count():
    spec = parse_text(spec_text('eta_schedule = "halve_on_plateau"\nschedule_patience = 3'))
    p = Position()
    for new_best in (False, False, True, False, False):
        schedule_step(spec, p, new_best)
    assert p.halvings == 0 and p.plateau == 2


# ---------------------------------------------------------------- elastic distortions


def test_displacement_field_statistics():
    """Uniform [−1, 1] (variance 1/3) smoothed by the Gaussian G and scaled by α:
    at the centre pixel, mean 0 and sd α·√(1/3)·Σᵢ G[c, i]² (the 2-D kernel is
    G ⊗ G); Δx and Δy are independent; neighbours are strongly correlated."""
    alpha, sigma, n = 34.0, 4.0, 20_000
    gen = torch.Generator().manual_seed(7)
    field = distort.displacement(n, 28, alpha, sigma, gen).double()
    g = distort.smoothing_matrix(sigma, 28).double()
    c = 14
    expected_sd = alpha * math.sqrt(1 / 3) * float((g[c] ** 2).sum())
    centre = field[:, :, c, c]
    assert abs(centre.mean().item()) < 4 * expected_sd / math.sqrt(n)
    for axis in (0, 1):
        assert centre[:, axis].std().item() == pytest.approx(expected_sd, rel=0.03)
    assert abs(torch.corrcoef(centre.T)[0, 1].item()) < 0.03
    neighbour = torch.corrcoef(torch.stack([field[:, 0, c, c], field[:, 0, c, c + 1]]))[0, 1].item()
    assert neighbour > 0.9  # smooth: an elastic field, not noise


def test_alpha_zero_or_huge_sigma_leaves_the_image_unchanged(mnist):
    images = small_tensors(mnist, 50, 10).train_x
    for alpha, sigma in ((0.0, 4.0), (34.0, 1e7)):
        out = distort.elastic(images, alpha, sigma, torch.Generator().manual_seed(1))
        torch.testing.assert_close(out, images, rtol=0, atol=1e-5)
    moved = distort.elastic(images, 34.0, 4.0, torch.Generator().manual_seed(1))
    assert (moved - images).abs().mean() > 0.02


def test_bilinear_warp_by_a_whole_pixel_is_a_shift(mnist):
    images = small_tensors(mnist, 5, 5).train_x
    field = torch.zeros(5, 2, 28, 28)
    field[:, 0] = 1.0  # new(x, y) = old(x + 1, y): the digit moves one pixel left
    out = distort.warp(images, field)
    torch.testing.assert_close(out[..., :-1], images[..., 1:], rtol=0, atol=1e-5)
    assert out[..., -1].abs().max() < 1e-6  # zero outside the image
    half = distort.warp(images, field * 0.5)
    torch.testing.assert_close(half[..., :-1], (images[..., :-1] + images[..., 1:]) / 2, rtol=0, atol=1e-5)


def test_the_fused_epoch_distortion_equals_warp_of_the_field(mnist):
    images = small_tensors(mnist, 300, 5).train_x
    out = distort.elastic(images, 34.0, 4.0, torch.Generator().manual_seed(3))
    field = distort.displacement(300, 28, 34.0, 4.0, torch.Generator().manual_seed(3))
    torch.testing.assert_close(out, distort.warp(images, field), rtol=0, atol=1e-4)


def _elastic_as_it_was(images, alpha, sigma, gen):
    """distort.elastic before it was made faster (chunks of 5,000, G made per chunk)."""
    out, side, unit = torch.empty_like(images), images.shape[-1], 2 / 27
    base = distort._pixel_grid(side, images.device).mul_(unit).sub_(1)
    for i in range(0, len(images), 5000):
        part = images[i : i + 5000]
        u = torch.rand(len(part), 2, side, side, generator=gen)
        g = distort.smoothing_matrix(sigma, side)
        constant = g @ torch.ones(side, side) @ g.T
        g2 = g * math.sqrt(2 * alpha * unit)
        out[i : i + 5000] = distort._sample(part, (g2 @ u @ g2.T).sub_(constant.mul_(alpha * unit)).add_(base))
    return out


def test_faster_distortions_give_the_same_images_as_before(mnist):
    """A run with data "elastic" sees the very images it saw before the speed-up:
    bit for bit, across several chunks, and the generator left in the same state."""
    images = small_tensors(mnist, 2 * distort.CHUNK + 123, 5).train_x
    for alpha, sigma in ((34.0, 4.0), (8.0, 6.0)):
        before, after = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
        assert torch.equal(
            distort.elastic(images, alpha, sigma, after), _elastic_as_it_was(images, alpha, sigma, before)
        )
        assert torch.equal(after.get_state(), before.get_state())


# ---------------------------------------------------------------- resume


ALL_OPTIONS = """
epochs = 12
momentum = 0.5
eta_schedule = "halve_on_plateau"
schedule_patience = 1
eta_floor = 0.25
patience = 3
data = "elastic"
elastic_alpha = 20.0
elastic_sigma = 4.0
shuffle = true
"""


def epochs_of(run) -> list[events.Epoch]:
    return [e for e in run if isinstance(e, events.Epoch)]


def test_resume_with_every_option_equals_an_uninterrupted_run(mnist):
    spec = parse_text(spec_text(ALL_OPTIONS, layers=""))
    tensors = small_tensors(mnist, 200, 100)
    whole = Trainer(spec, tensors, CPU, seed=4)
    full = list(whole.run())
    full_epochs = [e for e in full if isinstance(e, events.Epoch)]
    assert len(full_epochs) >= 3
    assert len({e.learning_rate for e in full_epochs}) > 1  # the schedule acted ...
    assert full[-1].stopped_early  # ... and ended the run at its floor

    first = Trainer(spec, tensors, CPU, seed=4)
    head = []
    for event in first.run():
        if isinstance(event, events.Epoch):
            head.append(event)
            if len(head) == 7:  # just after η first halved
                break
    resumed = Trainer(spec, tensors, CPU, seed=4)
    resumed.restore(head[-1].checkpoint)
    tail = list(resumed.run())
    got = head + [e for e in tail if isinstance(e, events.Epoch)]

    def numbers(e):
        return (e.epoch, e.train_loss, e.val_acc, e.test_acc, e.learning_rate)

    assert [numbers(e) for e in got] == [numbers(e) for e in full_epochs]
    a, b = full[-1], tail[-1]
    assert (a.best_val, a.best_epoch, a.epochs_done, a.stopped_early) == (
        b.best_val,
        b.best_epoch,
        b.epochs_done,
        b.stopped_early,
    )
    assert (a.predictions == b.predictions).all()


# ---------------------------------------------------------------- η per epoch, shown


def shown_text(store, run_id: int) -> str:
    """What `convlab show RUN` prints to a file (no colours, no pictures)."""
    from rich.console import Console

    from convlab.term.show import show_run

    out = io.StringIO()
    show_run(store, store.run(run_id), console=Console(file=out, width=120, color_system=None))
    return out.getvalue()


@pytest.mark.slow  # two runs trained by the CLI
def test_a_changing_eta_is_stored_shown_and_plotted_in_the_report(run_cli, tmp_path):
    """A run whose η a schedule changes (the step decay: halved every epoch)
    stores each epoch's η; `show` gives it as a column and a plot, the HTML report
    as a plot and a column. A run that kept one η shows neither."""
    for name, train in (("halving", "epochs = 3\neta_decay = 0.5\neta_decay_every = 1"), ("fixed", "epochs = 2")):
        (tmp_path / f"{name}.toml").write_text(spec_text(train).replace('name = "opt"', f'name = "{name}"'))
        result = run_cli("run", tmp_path / f"{name}.toml", "--train-limit", "100", "--seed", "1", "--threads", "1")
        assert result.returncode == 0, result.stderr
    with Store(tmp_path / "convlab.sqlite") as store:
        shown, fixed = (shown_text(store, run_id) for run_id in (1, 2))
        page = html_export.to_html(store, report.compare(store))
    rows = [line.split() for line in shown.splitlines() if re.match(r"^ +[123] +\d\.\d{4} ", line)]
    assert [row[-1] for row in rows] == ["0.05", "0.025", "0.0125"]  # the η column
    assert shown.count("learning rate η by epoch") == 1
    assert "learning rate η" not in fixed and "  η\n" not in fixed
    assert page.count('alt="learning rate per epoch"') == 1  # the halving run's row only
    svg = base64.b64decode(re.search(r'src="data:image/svg\+xml;base64,([^"]+)" alt="learning rate', page).group(1))
    root = ElementTree.fromstring(svg)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "learning rate η by epoch" in texts and "run 1" in texts
    assert len(list(root.iter("{http://www.w3.org/2000/svg}circle"))) == 3
    assert "<th>η</th>" in page and "<td>0.0125</td>" in page


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("train", "fragment"),
    [
        ("momentum = 1.5", "train.momentum is 1.5; it must be a number from 0 to 0.999"),
        ('eta_schedule = "cosine"', "train.eta_schedule is 'cosine'; choose one of fixed, halve_on_plateau"),
        ("schedule_patience = 3", 'train.schedule_patience is set but train.eta_schedule is not "halve_on_plateau"'),
        ('eta_schedule = "halve_on_plateau"\neta_floor = 0', "train.eta_floor is 0; it must be a number above 0"),
        (
            'eta_schedule = "halve_on_plateau"\neta_decay_every = 5\neta_decay = 0.5',
            "choose one schedule and remove the other",
        ),
        ("elastic_alpha = 30", 'train.elastic_alpha is set but train.data is "plain"'),
        ('data = "elastic"\nelastic_sigma = 0', "train.elastic_sigma is 0; it must be a number above 0"),
    ],
)
def test_bad_options_are_one_line_errors(train, fragment):
    with pytest.raises(UserError) as caught:
        parse_text(spec_text(train), "opt.toml")
    message = str(caught.value)
    assert fragment in message and "\n" not in message


def test_book_presets_keep_every_option_off():
    for name in ("shallow", "relu", "expanded", "dropout"):
        t = load(name).train
        assert (t.momentum, t.eta_schedule, t.data in ("plain", "expanded")) == (0.0, "fixed", True)


# ---------------------------------------------------------------- presets beyond the book


@pytest.mark.parametrize(("name", "figure"), [("elastic", 99.60), ("elastic-dropout", 99.65)])
def test_presets_beyond_the_book_carry_an_anchor_not_a_book_figure(name, figure):
    spec = load(name)
    assert spec.book_figure is None and spec.row == 0
    assert spec.anchor_figure == figure and spec.anchor_source
    assert "elastic" in spec.train.data and spec.train.eta_schedule == "halve_on_plateau"


def test_anchor_beside_a_book_figure_is_refused():
    with pytest.raises(UserError, match="anchor_figure is set beside book_figure"):
        parse_text("book_figure = 99.0\nanchor_figure = 99.6\n" + spec_text(), "x.toml")


def test_the_elastic_preset_runs_from_the_cli(run_cli):
    result = run_cli(
        "run", "elastic", "--epochs", "2", "--train-limit", "200", "--repeats", "1", "--seed", "2", "--json"
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    epochs = [e for e in lines if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert all(e["learning_rate"] == pytest.approx(0.03) for e in epochs)


def test_a_bad_option_from_the_cli_is_one_line(run_cli, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(spec_text("momentum = -0.1"))
    result = run_cli("run", str(path), "--epochs", "1", "--train-limit", "100")
    assert_user_error(result, "train.momentum is -0.1")


def test_presets_beyond_the_book_have_their_own_section_of_the_table(tmp_path):
    """Full-schedule records of `elastic` are shown against their anchor, below
    the book's table and never as one of its rows."""
    from convlab.results import records
    from convlab.store import Store

    from report_fixtures import add_run, synthetic_test

    test = synthetic_test()
    with Store(tmp_path / "s.sqlite") as store:
        spec = load("elastic")
        group = store.create_group(spec)
        for member, (val, acc) in enumerate([(99.5, 99.55), (99.6, 99.62)]):
            add_run(store, spec, group, member, [(val, acc, 10.0)], test.labels.copy(), test, seed=member + 1)
        records.write(store, store.runs(), tmp_path / "results")
    table = records.markdown(records.load(tmp_path / "results"))
    book, _, beyond = table.partition("Beyond the book")
    assert "`elastic`" not in book and "`relu`" in book
    row = next(line for line in beyond.splitlines() if line.startswith("| `elastic`"))
    assert row.split(" | ")[1:3] == [
        "99.60",
        "Simard, Steinkraus & Platt 2003 (a simple convolutional network, elastic distortions)",
    ]
    assert row.split(" | ")[3:6] == ["99.62", "99.59 ± 0.05", "2"]
