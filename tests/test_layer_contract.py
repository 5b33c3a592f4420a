"""The contract every layer keeps, checked on every layer of tests/layer_cases.py.

The shared float64 gradient check for the input and every parameter; dtype
preservation; no writing into x or dout; backward before forward; wrong dout
shape or dtype; non-float input; output_shape and a config that rebuilds it.
Each runs on every device of the ``device`` fixture: the CPU and the stand-in
for CuPy (tests/test_gpu.py runs them again on a real GPU where there is one).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import assert_dtype_preserved, assert_gradients_match, assert_inputs_unchanged
from layer_cases import CASES, IDS
from layers import Layer, Step
from layers.device import get_device
from nn import Perceptron, Sequential

CASE = pytest.mark.parametrize("name, make, shape, inputs", CASES, ids=IDS)


@CASE
def test_gradients_match_numerical(name, make, shape, inputs, device):
    assert_gradients_match(make(np.float64), inputs(shape), device)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@CASE
def test_dtype_preserved(name, make, shape, inputs, dtype, device):
    assert_dtype_preserved(make, shape, np.dtype(dtype), device)


@CASE
def test_inputs_unchanged(name, make, shape, inputs, device):
    assert_inputs_unchanged(make(np.float32), inputs(shape).astype(np.float32), device)


@pytest.mark.parametrize("name, make, shape, inputs",
                         CASES + [("Step", lambda dt: Step(), (2, 2), None)], ids=IDS + ["Step"])
def test_backward_before_forward_names_the_layer(name, make, shape, inputs, device):
    on = get_device(device)
    layer = make(np.float32).to(on)
    named = layer.layers[-1] if isinstance(layer, Sequential) else layer  # the first to run backward
    with pytest.raises(RuntimeError, match=f"{type(named).__name__}.backward called before forward"):
        layer.backward(on.xp.ones(shape, dtype=np.float32))


@CASE
def test_wrong_dout_shape_or_dtype_is_refused(name, make, shape, inputs, device):
    on = get_device(device)
    layer = make(np.float32).to(on)
    out = layer.forward(on.asarray(inputs(shape).astype(np.float32)))
    with pytest.raises(ValueError, match="expected dout of shape"):
        layer.backward(on.xp.ones((out.shape[0] + 1, *out.shape[1:]), dtype=np.float32))
    with pytest.raises(TypeError, match="expected float32 dout .*got float64"):
        layer.backward(on.xp.ones(out.shape))


@CASE
def test_integer_or_list_input_is_refused(name, make, shape, inputs):
    layer = make(np.float32)
    with pytest.raises(TypeError, match="expected a float32 or float64 input, got int64"):
        layer.forward(np.ones(shape, dtype=np.int64))
    with pytest.raises(TypeError, match=r"expected input as a NumPy \(or CuPy\) array, got list"):
        layer.forward([[1.0, 2.0]])


@CASE
def test_output_shape_and_config_rebuild(name, make, shape, inputs, device):
    on = get_device(device)
    layer = make(np.float32).to(on)
    out = layer.forward(on.asarray(inputs(shape).astype(np.float32)))
    assert layer.output_shape(shape) == out.shape
    config = json.loads(json.dumps(layer.config()))   # what a checkpoint stores
    rebuilt = Layer.registry[type(layer).__name__].from_config(config)
    assert rebuilt.config() == layer.config() and repr(rebuilt) == repr(layer)


def test_every_layer_class_in_the_table_is_registered():
    for _, make, _, _ in CASES:
        cls = type(make(np.float32))
        assert Layer.registry[cls.__name__] is cls


@pytest.mark.parametrize("name, make, shape, inputs",
                         CASES + [("Perceptron", lambda dt: Perceptron(7, rng=0, dtype=dt), None, None)],
                         ids=IDS + ["Perceptron"])
def test_parameter_shapes_declared_from_the_config_are_the_ones_built(name, make, shape, inputs):
    """What a checkpoint's config is checked against before the model is built."""
    layer = make(np.float32)
    declared = type(layer).parameter_shapes(json.loads(json.dumps(layer.config())))
    built = {n: p.shape for n, p in layer.named_parameters()}
    built.update({n: v.shape for n, v in layer.buffers().items()})
    assert declared == built


@pytest.mark.parametrize("cls, config, match", [
    ("Affine", {"in_features": 0, "out_features": 3}, "in_features must be a positive integer, got 0"),
    ("Convolution", {"in_channels": 1, "out_channels": 2, "kernel_size": "3"}, "kernel_size must be"),
    ("BatchNorm", {"num_features": 2.5}, "num_features must be a positive integer, got 2.5"),
    ("Sequential", {"layers": [{"class": "Nope"}]}, "layer 0: unknown layer class 'Nope'"),
    ("Sequential", {"layers": [{"class": "ReLU", "config": []}]}, "layer 0 .ReLU.: config must be a dict"),
    ("Sequential", [], "Sequential config must be"),
])
def test_parameter_shapes_refuse_a_config_the_layer_would_refuse(cls, config, match):
    with pytest.raises(ValueError, match=match):
        Layer.registry[cls].parameter_shapes(config)
