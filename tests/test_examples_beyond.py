"""The "beyond the plain MLP" demos run in --quick mode, write their PNG and show their claims."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))

import batchnorm_scales  # noqa: E402
import regularization  # noqa: E402
import weight_init  # noqa: E402


def quick(tmp_path: Path, mnist_dir: Path) -> list[str]:
    return ["--quick", "--out", str(tmp_path), "--data-dir", str(mnist_dir)]


def test_weight_init_std_001_is_stuck_while_he_learns(tmp_path, mnist_dir):
    curves = {c.name: c for c in weight_init.main(quick(tmp_path, mnist_dir))}
    assert (tmp_path / "weight_init.png").stat().st_size > 0
    tail = {name: c.losses[-15:].mean() for name, c in curves.items()}
    assert abs(tail["std 0.01"] - math.log(10)) < 0.02      # the uniform guess, throughout
    assert np.all(np.abs(curves["std 0.01"].losses - math.log(10)) < 0.05)
    assert tail["He"] < 1.8                                 # He learns within 150 iterations
    assert tail["He"] < tail["Xavier"] < tail["std 0.01"] + 0.01
    assert curves["He"].test_accuracy > 0.5 > 0.2 > curves["std 0.01"].test_accuracy
    # Why: with std 0.01 the activations shrink layer by layer; with He they keep their size.
    small, he = curves["std 0.01"].activation_std, curves["He"].activation_std
    assert small[-1] < 1e-4 * small[0]
    assert 0.3 < he[-1] / he[0] < 3


def test_weight_init_helpers():
    assert np.allclose(weight_init.smooth(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1, 2, 4, 6])
    model = weight_init.build("he")
    assert [p.shape for p in model.parameters()][::2] == [(784, 100)] + [(100, 100)] * 4 + [(100, 10)]


def test_regularization_plain_overfits_and_regularisers_fit_less(tmp_path, mnist_dir):
    results = {r.setting.name: r for r in regularization.main(quick(tmp_path, mnist_dir))}
    assert (tmp_path / "regularization.png").stat().st_size > 0
    assert list(results) == ["plain", "weight decay 0.1", "dropout 0.2", "both"]
    plain = results["plain"]
    assert all(len(r.train_accuracy) == len(r.test_accuracy) == 25 for r in results.values())
    assert plain.gap > 0.05                           # 300 images: the test set lags behind
    for name in ("weight decay 0.1", "dropout 0.2", "both"):
        assert results[name].train_accuracy[-1] <= plain.train_accuracy[-1]
    assert results["dropout 0.2"].gap < plain.gap


def test_regularization_models_share_initial_weights():
    plain, dropped = regularization.build(0.0, seed=3), regularization.build(0.2, seed=3)
    assert len(dropped.parameters()) == len(plain.parameters()) == 14
    for a, b in zip(plain.parameters(), dropped.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    assert sum(type(layer).__name__ == "Dropout" for layer in dropped) == 6


def test_batchnorm_rescues_small_weight_scales(tmp_path, mnist_dir):
    pairs = batchnorm_scales.main(quick(tmp_path, mnist_dir))
    assert (tmp_path / "batchnorm_scales.png").stat().st_size > 0
    by_scale = {round(with_bn.scale, 4): (with_bn, without) for with_bn, without in pairs}
    assert sorted(by_scale) == [0.0001, 0.004, 0.0464, 1.0]
    for scale in (0.004, 0.0464):                     # small scales: only BatchNorm learns
        with_bn, without = by_scale[scale]
        assert with_bn.diverged_at is None
        assert with_bn.final > 0.6 and without.final < 0.2
        assert len(with_bn.accuracy) == 9             # before training, then 8 epochs
    assert by_scale[1.0][1].final < 0.2               # w = 1 without BatchNorm: no learning


def test_batchnorm_variants_start_from_the_same_draws():
    with_bn, without = batchnorm_scales.build(0.01, True), batchnorm_scales.build(0.01, False)
    affine = [p.data for p in with_bn.parameters() if p.data.ndim == 2]
    np.testing.assert_array_equal(affine[0], without.parameters()[0].data)
    assert len(affine) == 6 and len(with_bn.parameters()) == len(without.parameters()) + 10
    assert abs(float(affine[0].std()) - 0.01) < 1e-3
