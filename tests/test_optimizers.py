"""Optimizers and lr schedules: closed forms, PyTorch trajectories, contract."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from layers import Parameter
from optimizers import (
    SGD,
    AdaGrad,
    Adam,
    AdamW,
    CosineAnnealingLR,
    ExponentialLR,
    Momentum,
    Nesterov,
    Optimizer,
    RMSprop,
    StepLR,
    get_optimizer,
)

# The last shape is above optimizers.blas.MIN_SIZE, so the BLAS route is checked too.
SHAPES = [(3,), (2, 4), (2, 3, 2), (96, 90)]
N_STEPS = 25

# (class, kwargs): every rule and every branch of it (weight decay, momentum, nesterov).
CASES = [
    (SGD, dict(lr=0.1)),
    (SGD, dict(lr=1.0)),
    (SGD, dict(lr=0.1, weight_decay=0.1)),
    (SGD, dict(lr=1.0, momentum=0.9)),
    (SGD, dict(lr=0.1, momentum=0.5, weight_decay=0.01)),
    (SGD, dict(lr=0.5, momentum=0.9, nesterov=True, weight_decay=0.05)),
    (Momentum, dict(lr=1.0)),
    (Nesterov, dict(lr=1.0, momentum=0.8)),
    (Nesterov, dict()),
    (AdaGrad, dict(lr=0.1)),
    (AdaGrad, dict(lr=1.0, weight_decay=0.1)),
    (RMSprop, dict(lr=0.01)),
    (RMSprop, dict(lr=1.0, alpha=0.9, weight_decay=0.1)),
    (RMSprop, dict(lr=0.1, alpha=0.8, momentum=0.5, weight_decay=0.01)),
    (Adam, dict()),
    (Adam, dict(lr=1.0)),
    (Adam, dict(lr=0.1, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    (AdamW, dict(lr=0.01)),
    (AdamW, dict(lr=1.0, betas=(0.5, 0.9), weight_decay=0.5)),
]
CASE_IDS = [f"{cls.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}"
            for cls, kw in CASES]


def make_params(rng: np.random.Generator, dtype=np.float64) -> list[Parameter]:
    return [Parameter(rng.standard_normal(s).astype(dtype)) for s in SHAPES]


def make_grads(rng: np.random.Generator, steps: int = N_STEPS, dtype=np.float64):
    return [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(steps)]


def run(opt: Optimizer, grads) -> list[list[np.ndarray]]:
    """Step ``opt`` through ``grads``; trajectory[t][j] is parameter j after step t."""
    trajectory = []
    for step_grads in grads:
        for p, g in zip(opt.params, step_grads):
            p.grad[...] = g
        opt.step()
        trajectory.append([p.data.copy() for p in opt.params])
    return trajectory


# -- closed forms, written out in plain float64 NumPy ---------------------------
def ref_sgd(p, grads, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    p, v, out = p.copy(), None, []
    for g in grads:
        g = g + weight_decay * p
        if momentum:
            v = g.copy() if v is None else momentum * v + g
            d = g + momentum * v if nesterov else v
        else:
            d = g
        p = p - lr * d
        out.append(p)
    return out


def ref_adagrad(p, grads, lr=0.01, eps=1e-10, weight_decay=0.0):
    p, h, out = p.copy(), np.zeros_like(p), []
    for g in grads:
        g = g + weight_decay * p
        h = h + g * g
        p = p - lr * g / (np.sqrt(h) + eps)
        out.append(p)
    return out


def ref_rmsprop(p, grads, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0):
    p, s, b, out = p.copy(), np.zeros_like(p), np.zeros_like(p), []
    for g in grads:
        g = g + weight_decay * p
        s = alpha * s + (1 - alpha) * g * g
        if momentum:
            b = momentum * b + g / (np.sqrt(s) + eps)
            p = p - lr * b
        else:
            p = p - lr * g / (np.sqrt(s) + eps)
        out.append(p)
    return out


def ref_adam(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
             decoupled=False):
    (b1, b2), p = betas, p.copy()
    m, v, out = np.zeros_like(p), np.zeros_like(p), []
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return out


def reference(opt: Optimizer, p0: np.ndarray, grads: list[np.ndarray]) -> list[np.ndarray]:
    hyper = opt.hyperparameters()
    if isinstance(opt, SGD):
        return ref_sgd(p0, grads, **hyper)
    if isinstance(opt, AdaGrad):
        return ref_adagrad(p0, grads, **hyper)
    if isinstance(opt, RMSprop):
        return ref_rmsprop(p0, grads, **hyper)
    if isinstance(opt, Adam):
        return ref_adam(p0, grads, **hyper, decoupled=isinstance(opt, AdamW))
    raise AssertionError(f"no reference for {opt!r}")


@pytest.mark.parametrize("cls, kwargs", CASES, ids=CASE_IDS)
def test_trajectory_matches_closed_form(cls, kwargs, rng):
    params = make_params(rng)
    p0 = [p.data.copy() for p in params]
    grads = make_grads(rng)
    opt = cls(params, **kwargs)
    got = run(opt, grads)
    for j in range(len(SHAPES)):
        expected = reference(opt, p0[j], [g[j] for g in grads])
        for t in range(N_STEPS):
            np.testing.assert_allclose(got[t][j], expected[t], rtol=1e-12, atol=1e-12,
                                       err_msg=f"parameter {j}, step {t + 1}")


def test_first_steps_by_hand():
    # Values worked out on paper, independent of the reference functions above.
    p = Parameter(np.array([1.0, -2.0]))
    opt = SGD([p], lr=0.5, momentum=0.5)
    p.grad[...] = [1.0, 2.0]
    opt.step()  # v = g = [1, 2]; p = [0.5, -3]
    opt.step()  # v = 0.5 * [1, 2] + [1, 2] = [1.5, 3]; p = [-0.25, -4.5]
    np.testing.assert_allclose(p.data, [-0.25, -4.5])

    p = Parameter(np.array([1.0]))
    opt = Adam([p], lr=0.1)
    p.grad[...] = 2.0
    opt.step()  # m_hat = 2, v_hat = 4: step = 0.1 * 2 / (2 + 1e-8)
    np.testing.assert_allclose(p.data, [1.0 - 0.1 * 2 / (2 + 1e-8)], rtol=1e-15)


def test_momentum_and_nesterov_match_the_textbook_velocity_form(rng):
    """v <- mu v - lr g; p += v (momentum), p += mu^2 v_old - (1 + mu) lr g (Nesterov)."""
    lr, mu = 0.05, 0.9
    grads = make_grads(rng)
    for cls in (Momentum, Nesterov):
        params = make_params(np.random.default_rng(1))
        book = [p.data.copy() for p in params]
        velocity = [np.zeros_like(b) for b in book]
        opt = cls(params, lr=lr, momentum=mu)
        for step_grads in grads:
            for j, g in enumerate(step_grads):
                params[j].grad[...] = g
                if cls is Momentum:
                    velocity[j] = mu * velocity[j] - lr * g
                    book[j] += velocity[j]
                else:
                    book[j] += mu * mu * velocity[j] - (1 + mu) * lr * g
                    velocity[j] = mu * velocity[j] - lr * g
            opt.step()
            for p, b in zip(params, book):
                np.testing.assert_allclose(p.data, b, rtol=1e-10, atol=1e-12)


# -- against torch.optim ---------------------------------------------------------
def torch_trajectory(opt: Optimizer, p0, grads):
    torch = pytest.importorskip("torch")
    torch_class = {
        SGD: torch.optim.SGD,
        Momentum: torch.optim.SGD,
        Nesterov: torch.optim.SGD,
        AdaGrad: torch.optim.Adagrad,
        RMSprop: torch.optim.RMSprop,
        Adam: torch.optim.Adam,
        AdamW: torch.optim.AdamW,
    }[type(opt)]
    tparams = [torch.tensor(p, requires_grad=True) for p in p0]
    # Our hyperparameter names are torch's, so the same dict builds both.
    topt = torch_class(tparams, **opt.hyperparameters())
    trajectory = []
    for step_grads in grads:
        for tp, g in zip(tparams, step_grads):
            tp.grad = torch.tensor(g)
        topt.step()
        trajectory.append([tp.detach().numpy().copy() for tp in tparams])
    return trajectory


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-5)],
                         ids=["float64", "float32"])
@pytest.mark.parametrize("cls, kwargs", CASES, ids=CASE_IDS)
def test_trajectory_matches_torch(cls, kwargs, dtype, rtol, rng):
    pytest.importorskip("torch")
    params = make_params(rng, dtype)
    p0 = [p.data.copy() for p in params]
    grads = make_grads(rng, dtype=dtype)
    opt = cls(params, **kwargs)
    got = run(opt, grads)
    expected = torch_trajectory(opt, p0, grads)
    for t in range(N_STEPS):
        for j in range(len(SHAPES)):
            assert got[t][j].dtype == dtype
            scale = max(1.0, float(np.abs(expected[t][j]).max()))
            np.testing.assert_allclose(got[t][j], expected[t][j], rtol=rtol,
                                       atol=rtol * scale, err_msg=f"param {j}, step {t + 1}")


# -- dtype: float32 stays float32, and no float64 operand sneaks in ---------------
class Float64Spy(np.ndarray):
    """An array that records every ufunc call that receives a non-float32 operand.

    In-place float32 arithmetic with a float64 NumPy scalar keeps the float32
    dtype of the result but computes in float64, so checking dtypes afterwards
    cannot see it; this can.
    """

    seen: list[str] = []

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        for x in inputs + (out or ()):
            if isinstance(x, (np.ndarray, np.generic)) and x.dtype != np.float32:
                Float64Spy.seen.append(f"{ufunc.__name__} got {x.dtype}")
        plain = tuple(x.view(np.ndarray) if isinstance(x, Float64Spy) else x for x in inputs)
        if out is not None:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, Float64Spy) else o
                                  for o in out)
        result = getattr(ufunc, method)(*plain, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return result.view(Float64Spy) if isinstance(result, np.ndarray) else result


def test_float64_spy_catches_an_upcast():
    Float64Spy.seen = []
    a = np.ones(3, dtype=np.float32).view(Float64Spy)
    a += 0.5  # a Python float is weak under NumPy 2: stays float32
    assert Float64Spy.seen == []
    a += np.float64(0.5)
    assert Float64Spy.seen == ["add got float64"]
    assert a.dtype == np.float32


@pytest.mark.parametrize("cls, kwargs", CASES, ids=CASE_IDS)
def test_float32_stays_float32_without_upcasting(cls, kwargs, rng):
    params = make_params(rng, np.float32)
    for p in params:
        p.data = p.data.view(Float64Spy)
        p.grad = p.grad.view(Float64Spy)
    opt = cls(params, **kwargs)
    Float64Spy.seen = []
    run(opt, make_grads(rng, steps=3, dtype=np.float32))
    assert Float64Spy.seen == []
    for p, state in zip(params, opt.state):
        assert p.data.dtype == np.float32 and p.grad.dtype == np.float32
        for value in state.values():
            assert value.dtype == np.float32


def test_changing_dtype_after_creating_the_optimizer_is_refused(rng):
    p = Parameter(rng.standard_normal(3))
    opt = Adam([p])
    opt.step()
    p.astype(np.float32)
    with pytest.raises(TypeError, match="convert the model before creating its optimizer"):
        opt.step()


# -- the contract: parameters in, state by position ---------------------------------
def test_parameters_of_the_same_shape_keep_separate_state(rng):
    a, b = Parameter(np.zeros((2, 2))), Parameter(np.zeros((2, 2)))
    opt = Momentum([a, b], lr=0.1, momentum=0.9)
    for _ in range(3):
        a.grad[...] = 1.0
        b.grad[...] = -2.0
        opt.step()
    np.testing.assert_allclose(a.data, ref_sgd(np.zeros((2, 2)), [np.ones((2, 2))] * 3,
                                               lr=0.1, momentum=0.9)[-1])
    np.testing.assert_allclose(b.data, -2 * a.data)
    np.testing.assert_allclose(opt.state[0]["momentum_buffer"], 2.71)
    np.testing.assert_allclose(opt.state[1]["momentum_buffer"], -5.42)


def test_zero_grad_clears_every_gradient(rng):
    params = make_params(rng)
    for p in params:
        p.grad[...] = 1.0
    SGD(params, lr=0.1).zero_grad()
    for p in params:
        assert not p.grad.any()


def test_step_does_not_write_into_grad(rng):
    params = make_params(rng)
    opt = SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)
    grads = make_grads(rng, steps=1)[0]
    for p, g in zip(params, grads):
        p.grad[...] = g
    opt.step()
    opt.step()
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(p.grad, g)


@pytest.mark.parametrize("cls, kwargs", CASES, ids=CASE_IDS)
def test_state_dict_round_trip_resumes_the_same_trajectory(cls, kwargs, rng):
    params = make_params(rng)
    grads = make_grads(rng, steps=10)
    opt = cls(params, **kwargs)
    run(opt, grads[:5])
    saved = opt.state_dict()
    snapshot = copy.deepcopy(saved)
    saved_params = [p.data.copy() for p in params]
    expected = run(opt, grads[5:])
    assert saved["steps"] == 5
    for s, s0 in zip(saved["state"], snapshot["state"]):  # copies, not live arrays
        assert s.keys() == s0.keys()
        for key in s:
            np.testing.assert_array_equal(s[key], s0[key])

    resumed = cls([Parameter(p) for p in saved_params], **{**kwargs, "lr": 0.123})
    resumed.load_state_dict(saved)
    assert resumed.lr == opt.lr
    got = run(resumed, grads[5:])
    for t in range(5):
        for j in range(len(SHAPES)):
            np.testing.assert_array_equal(got[t][j], expected[t][j])


def test_state_dict_is_plain_data(rng):
    opt = Adam(make_params(rng), lr=0.01)
    run(opt, make_grads(rng, steps=1))
    sd = opt.state_dict()
    assert sd["type"] == "Adam" and sd["steps"] == 1
    assert sd["hyperparameters"] == dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    assert [sorted(s) for s in sd["state"]] == [["exp_avg", "exp_avg_sq"]] * len(SHAPES)
    # A checkpoint stores hyperparameters as JSON, where the betas tuple becomes a list.
    restored = Adam(make_params(rng))
    as_json = json.loads(json.dumps(sd["hyperparameters"]))
    restored.load_state_dict({**sd, "hyperparameters": as_json})
    assert restored.betas == (0.9, 0.999) and restored.lr == 0.01


def test_load_state_dict_refuses_a_mismatch(rng):
    params = make_params(rng)
    opt = Adam(params)
    run(opt, make_grads(rng, steps=1))
    sd = opt.state_dict()
    with pytest.raises(ValueError, match=f"state for {len(SHAPES)} parameters, this optimizer has 2"):
        Adam(params[:2]).load_state_dict(sd)
    shape_message = r"'exp_avg' of parameter 0 has shape \(3,\), expected \(4,\)"
    with pytest.raises(ValueError, match=shape_message):
        Adam([Parameter(np.zeros(4))] + params[1:]).load_state_dict(sd)
    with pytest.raises(ValueError, match="saved from Adam, not AdamW"):
        AdamW(params).load_state_dict(sd)
    with pytest.raises(ValueError, match="hyperparameters"):
        SGD(params, lr=0.1).load_state_dict({**sd, "type": "SGD"})
    bad = copy.deepcopy(sd)
    bad["hyperparameters"]["eps"] = -1.0
    fresh = Adam(params)
    with pytest.raises(ValueError, match="eps must be positive"):
        fresh.load_state_dict(bad)
    assert fresh.steps == 0 and fresh.state == [{}] * len(SHAPES)  # nothing half-loaded
    partial = copy.deepcopy(sd)
    del partial["state"][1]["exp_avg_sq"]  # a step could not run on this
    with pytest.raises(ValueError, match=r"state of parameter 1 holds \['exp_avg'\], expected "
                                         r"\['exp_avg', 'exp_avg_sq'\]"):
        Adam(params).load_state_dict(partial)


# -- validation ---------------------------------------------------------------------
def one_param():
    return [Parameter(np.zeros(2))]


@pytest.mark.parametrize("build, message", [
    (lambda: SGD(one_param(), lr=0.0), "learning rate must be positive, got 0.0"),
    (lambda: SGD(one_param(), lr=-0.1), "learning rate must be positive, got -0.1"),
    (lambda: SGD(one_param(), lr=float("nan")), "learning rate must be finite"),
    (lambda: SGD(one_param(), lr=0.1, momentum=-0.5), "momentum must be non-negative"),
    (lambda: SGD(one_param(), lr=0.1, nesterov=True), "nesterov momentum requires momentum > 0"),
    (lambda: SGD(one_param(), lr=0.1, weight_decay=-1e-4), "weight_decay must be non-negative"),
    (lambda: Momentum(one_param(), momentum=-0.9), "momentum must be non-negative"),
    (lambda: Nesterov(one_param(), momentum=0.0), "nesterov momentum requires momentum > 0"),
    (lambda: AdaGrad(one_param(), eps=0.0), "eps must be positive"),
    (lambda: AdaGrad(one_param(), lr=-1.0), "learning rate must be positive"),
    (lambda: RMSprop(one_param(), alpha=1.0), r"alpha must be in \[0, 1\), got 1.0"),
    (lambda: RMSprop(one_param(), momentum=-0.1), "momentum must be non-negative"),
    (lambda: RMSprop(one_param(), eps=-1e-8), "eps must be positive"),
    (lambda: Adam(one_param(), betas=(0.9, 1.0)), r"betas\[1\] must be in \[0, 1\), got 1.0"),
    (lambda: Adam(one_param(), betas=(-0.1, 0.999)), r"betas\[0\] must be in \[0, 1\)"),
    (lambda: Adam(one_param(), betas=(0.9,)), "betas must be a pair"),
    (lambda: Adam(one_param(), eps=0.0), "eps must be positive"),
    (lambda: AdamW(one_param(), weight_decay=-0.01), "weight_decay must be non-negative"),
])
def test_bad_hyperparameters_raise(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_hyperparameters_must_be_numbers():
    with pytest.raises(TypeError, match="learning rate must be a real number, got '0.1'"):
        SGD(one_param(), lr="0.1")
    with pytest.raises(TypeError, match="nesterov must be True or False"):
        SGD(one_param(), lr=0.1, momentum=0.9, nesterov="yes")


@pytest.mark.parametrize("params, error, message", [
    ([], ValueError, "empty parameter list"),
    ([np.zeros(3)], TypeError, "got ndarray at position 0; wrap arrays with Parameter"),
    ({"W1": np.zeros(3)}, TypeError, "got a dict"),
    (Parameter(np.zeros(3)), TypeError, "got a single Parameter"),
    (42, TypeError, "got int"),
])
def test_bad_parameter_lists_raise(params, error, message):
    with pytest.raises(error, match=message):
        SGD(params, lr=0.1)


def test_duplicate_parameters_are_refused():
    p, q = Parameter(np.zeros(3)), Parameter(np.zeros(3))
    with pytest.raises(ValueError, match="position 2 .* same object as the one at position 0"):
        Adam([p, q, p])


def test_params_may_come_from_a_generator():
    params = one_param() + one_param()
    opt = AdaGrad(p for p in params)
    assert opt.params == params and len(opt.state) == 2


def test_lr_is_a_checked_public_attribute():
    opt = SGD(one_param(), lr=0.1)
    opt.lr = np.float64(0.05)
    assert opt.lr == 0.05 and type(opt.lr) is float
    opt.lr = 0.0  # where a cosine schedule may end
    with pytest.raises(ValueError, match="learning rate must be non-negative, got -1"):
        opt.lr = -1


def test_repr_names_class_and_hyperparameters():
    text = repr(Nesterov(one_param(), lr=0.5))
    assert text == "Nesterov(lr=0.5, momentum=0.9, nesterov=True, weight_decay=0.0; 1 parameter)"


@pytest.mark.parametrize("name, cls", [
    ("sgd", SGD), ("momentum", Momentum), ("nesterov", Nesterov), ("adagrad", AdaGrad),
    ("rmsprop", RMSprop), ("adam", Adam), ("AdamW", AdamW),
])
def test_get_optimizer_by_name(name, cls):
    opt = get_optimizer(name, one_param(), lr=0.5)
    assert type(opt) is cls and opt.lr == 0.5


def test_get_optimizer_lists_valid_names():
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'; valid names: sgd, momentum, "
                                         "nesterov, adagrad, rmsprop, adam, adamw"):
        get_optimizer("lbfgs", one_param(), lr=0.1)


# -- schedules ------------------------------------------------------------------------
SCHEDULES = [
    (StepLR, dict(step_size=3, gamma=0.5), lambda t, b: b * 0.5 ** (t // 3)),
    (StepLR, dict(step_size=1), lambda t, b: b * 0.1**t),
    (ExponentialLR, dict(gamma=0.9), lambda t, b: b * 0.9**t),
    (CosineAnnealingLR, dict(t_max=10), lambda t, b: b * (1 + math.cos(math.pi * t / 10)) / 2),
    (CosineAnnealingLR, dict(t_max=7, eta_min=0.01),
     lambda t, b: 0.01 + (b - 0.01) * (1 + math.cos(math.pi * t / 7)) / 2),
]
SCHEDULE_IDS = [f"{cls.__name__}-{kw}" for cls, kw, _ in SCHEDULES]
N_EPOCHS = 20


@pytest.mark.parametrize("cls, kwargs, closed_form", SCHEDULES, ids=SCHEDULE_IDS)
def test_schedule_matches_closed_form(cls, kwargs, closed_form):
    opt = SGD(one_param(), lr=0.3)
    schedule = cls(opt, **kwargs)
    assert schedule.base_lr == 0.3 and opt.lr == 0.3 and schedule.lr == 0.3
    for t in range(1, N_EPOCHS + 1):
        returned = schedule.step()
        assert schedule.epoch == t
        assert returned == schedule.get_lr() == schedule.lr == opt.lr
        assert opt.lr == pytest.approx(closed_form(t, 0.3), rel=1e-12, abs=1e-15)


def test_cosine_reaches_eta_min_at_t_max():
    opt = SGD(one_param(), lr=1.0)
    schedule = CosineAnnealingLR(opt, t_max=4, eta_min=0.1)
    lrs = [schedule.step() for _ in range(4)]
    assert lrs[-1] == pytest.approx(0.1, abs=1e-15)
    assert lrs == sorted(lrs, reverse=True)


@pytest.mark.parametrize("cls, kwargs, closed_form", SCHEDULES, ids=SCHEDULE_IDS)
def test_schedule_matches_torch(cls, kwargs, closed_form):
    torch = pytest.importorskip("torch")
    torch_kwargs = {("T_max" if k == "t_max" else k): v for k, v in kwargs.items()}
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
    tschedule = getattr(torch.optim.lr_scheduler, cls.__name__)(topt, **torch_kwargs)
    opt = SGD(one_param(), lr=0.3)
    schedule = cls(opt, **kwargs)
    for _ in range(N_EPOCHS):
        assert opt.lr == pytest.approx(topt.param_groups[0]["lr"], rel=1e-10, abs=1e-15)
        topt.step()
        tschedule.step()
        schedule.step()


def test_schedule_changes_the_step_the_optimizer_takes():
    p = Parameter(np.zeros(1))
    opt = SGD([p], lr=1.0)
    schedule = StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad[...] = 1.0
        opt.step()
        schedule.step()
    np.testing.assert_allclose(p.data, [-(1.0 + 0.5 + 0.25)])


def test_schedule_state_dict_round_trip():
    opt = Adam(one_param(), lr=0.2)
    schedule = CosineAnnealingLR(opt, t_max=10, eta_min=0.02)
    for _ in range(4):
        schedule.step()
    sd = schedule.state_dict()
    assert sd == {"type": "CosineAnnealingLR", "base_lr": 0.2, "epoch": 4,
                  "hyperparameters": {"t_max": 10, "eta_min": 0.02}}
    opt2 = Adam(one_param(), lr=0.2)
    schedule2 = CosineAnnealingLR(opt2, t_max=3)
    schedule2.load_state_dict(sd)
    assert opt2.lr == opt.lr and schedule2.t_max == 10
    assert schedule2.step() == schedule.step()
    with pytest.raises(ValueError, match="saved from CosineAnnealingLR, not StepLR"):
        StepLR(opt2, step_size=2).load_state_dict(sd)


@pytest.mark.parametrize("build, error, message", [
    (lambda o: StepLR(o, step_size=0), ValueError, "step_size must be positive, got 0"),
    (lambda o: StepLR(o, step_size=2.5), TypeError, "step_size must be an integer"),
    (lambda o: StepLR(o, step_size=2, gamma=0.0), ValueError, "gamma must be positive"),
    (lambda o: ExponentialLR(o, gamma=-0.5), ValueError, "gamma must be positive"),
    (lambda o: CosineAnnealingLR(o, t_max=0), ValueError, "t_max must be positive"),
    (lambda o: CosineAnnealingLR(o, t_max=5, eta_min=-1e-3), ValueError,
     "eta_min must be non-negative"),
    (lambda o: StepLR("sgd", step_size=1), TypeError, "StepLR expects an Optimizer, got str"),
])
def test_bad_schedule_arguments_raise(build, error, message):
    with pytest.raises(error, match=message):
        build(SGD(one_param(), lr=0.1))


# -- subnormal state ------------------------------------------------------------------
def test_flush_subnormals_zeroes_only_subnormals():
    from optimizers.base import flush_subnormals
    tiny = np.finfo(np.float32).tiny
    a = np.array([1.0, -2e-3, tiny, -tiny, tiny / 2, -tiny / 8, 1e-45, 0.0], dtype=np.float32)
    expected = a.copy()
    expected[4:7] = 0
    flush_subnormals(a, np.empty_like(a))
    np.testing.assert_array_equal(a, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", [lambda ps: Adam(ps, lr=1e-3), lambda ps: RMSprop(ps, lr=1e-3, momentum=0.9),
                                  lambda ps: SGD(ps, lr=1e-3, momentum=0.9)], ids=["Adam", "RMSprop", "SGD"])
def test_state_of_a_dead_unit_does_not_stick_in_the_subnormal_range(dtype, make):
    from optimizers.base import FLUSH_EVERY
    p = Parameter(np.ones(4, dtype=dtype))
    opt = make([p])
    p.grad[...] = [0.1, -0.1, 1e-3, 0]
    opt.step()
    p.grad[...] = 0  # the unit dies: its moving averages decay every step
    steps = {np.float32: 1200, np.float64: 7200}[dtype]  # past 0.1 * 0.9**k < tiny
    steps += -steps % FLUSH_EVERY
    for _ in range(steps):
        opt.step()
    tiny = np.finfo(dtype).tiny
    for name, state in opt.state[0].items():
        assert not np.any((state != 0) & (np.abs(state) < tiny)), (name, state)
    assert np.all(np.isfinite(p.data))
