"""Next-token, z-loss and distillation losses (paper Eqs. 3-7) against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from distill_scaling import losses
from distill_scaling.losses import (
    kd_loss,
    kl_divergence,
    next_token_loss,
    student_loss,
    student_loss_parts,
    teacher_log_probs,
    z_loss,
)

torch.set_num_threads(1)


def rand_logits(*shape, seed=0, scale=2.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


def test_next_token_loss_hand_value():
    logits = torch.tensor([[0.0, math.log(3.0)], [math.log(2.0), 0.0]])
    targets = torch.tensor([1, 1])
    # p = [1/4, 3/4] -> -log 3/4; p = [2/3, 1/3] -> -log 1/3
    expected = (-math.log(0.75) - math.log(1 / 3)) / 2
    assert next_token_loss(logits, targets).item() == pytest.approx(expected, rel=1e-6)


def test_z_loss_hand_value():
    logits = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    expected = (math.log(3.0) ** 2 + (1 + math.log(3.0)) ** 2) / 2
    assert z_loss(logits).item() == pytest.approx(expected, rel=1e-6)


def test_mix_zero_is_next_token_training():
    s, t = rand_logits(2, 5, 7, seed=1), rand_logits(2, 5, 7, seed=2)
    y = torch.randint(0, 7, (2, 5))
    for teacher in (None, t):
        total = student_loss(s, y, teacher, mix=0.0, z_loss_coef=0.0)
        torch.testing.assert_close(total, next_token_loss(s, y))
    # With a z-loss, the z term is added with its coefficient.
    torch.testing.assert_close(
        student_loss(s, y, mix=0.0, z_loss_coef=1e-4), next_token_loss(s, y) + 1e-4 * z_loss(s)
    )
    # Supervised is the default without a teacher.
    torch.testing.assert_close(student_loss(s, y), next_token_loss(s, y) + 1e-4 * z_loss(s))


def test_mix_interpolates_and_pure_distillation_is_the_default_with_a_teacher():
    s, t = rand_logits(4, 9, seed=3), rand_logits(4, 9, seed=4)
    y = torch.randint(0, 9, (4,))
    ntp, kd = next_token_loss(s, y), kd_loss(s, t, temperature=2.0)
    got = student_loss(s, y, t, mix=0.3, temperature=2.0, z_loss_coef=0.0)
    torch.testing.assert_close(got, 0.7 * ntp + 0.3 * kd)
    torch.testing.assert_close(student_loss(s, None, t, z_loss_coef=0.0), kd_loss(s, t))
    parts = student_loss_parts(s, y, t, mix=0.3, temperature=2.0)
    torch.testing.assert_close(parts.next_token, ntp)
    torch.testing.assert_close(parts.distillation, kd)
    torch.testing.assert_close(parts.z, z_loss(s))


def test_forward_kd_is_cross_entropy_form_and_kl_differs_by_teacher_entropy():
    s, t = rand_logits(6, 11, seed=5), rand_logits(6, 11, seed=6)
    p = F.softmax(t, -1)
    ce = -(p * F.log_softmax(s, -1)).sum(-1).mean()
    entropy = -(p * F.log_softmax(t, -1)).sum(-1).mean()
    torch.testing.assert_close(kd_loss(s, t), ce)
    torch.testing.assert_close(kl_divergence(t, s), ce - entropy)
    assert kl_divergence(t, t).item() == pytest.approx(0.0, abs=1e-12)


def test_temperature_scales_both_distributions_and_multiplies_by_tau_squared():
    s, t = rand_logits(3, 5, seed=7), rand_logits(3, 5, seed=8)
    tau = 3.0
    expected = -(tau**2) * (F.softmax(t / tau, -1) * F.log_softmax(s / tau, -1)).sum(-1).mean()
    torch.testing.assert_close(kd_loss(s, t, temperature=tau), expected)


def test_forward_kl_gradient_is_the_difference_of_softmaxes():
    n, v = 5, 13
    s = rand_logits(n, v, seed=9).requires_grad_()
    t = rand_logits(n, v, seed=10)
    kd_loss(s, t).backward()
    # Per token (before averaging over the n tokens): softmax(student) - softmax(teacher).
    torch.testing.assert_close(s.grad * n, F.softmax(s.detach(), -1) - F.softmax(t, -1))


def test_teacher_gets_no_gradient():
    s = rand_logits(2, 4, seed=11).requires_grad_()
    t = rand_logits(2, 4, seed=12).requires_grad_()
    student_loss(s, None, t).backward()
    assert t.grad is None and s.grad is not None


def test_reverse_kl_hand_value():
    s = torch.tensor([[0.0, 0.0]], dtype=torch.float64)  # q = [1/2, 1/2]
    t = torch.tensor([[math.log(3.0), 0.0]], dtype=torch.float64)  # p = [3/4, 1/4]
    expected = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    assert kd_loss(s, t, kl="reverse").item() == pytest.approx(expected, rel=1e-12)
    # Forward on the same pair, by hand: -(3/4 log 1/2 + 1/4 log 1/2) = log 2.
    assert kd_loss(s, t).item() == pytest.approx(math.log(2.0), rel=1e-12)


def test_top_k_equal_to_vocabulary_is_full_distillation():
    s, t = rand_logits(3, 4, 10, seed=13), rand_logits(3, 4, 10, seed=14)
    full = kd_loss(s, t)
    torch.testing.assert_close(kd_loss(s, t, top_k=10), full)
    torch.testing.assert_close(kd_loss(s, t, top_p=1.0), full)


def test_top_k_hand_value():
    t = torch.tensor([[math.log(4.0), math.log(3.0), math.log(2.0), 0.0]], dtype=torch.float64)  # p ∝ 4,3,2,1
    s = torch.zeros(1, 4, dtype=torch.float64)
    logp = teacher_log_probs(t, top_k=2)
    torch.testing.assert_close(logp.exp(), torch.tensor([[4 / 7, 3 / 7, 0.0, 0.0]], dtype=torch.float64))
    # Uniform student: -sum p log(1/4) = log 4 whatever the (renormalised) teacher.
    assert kd_loss(s, t, top_k=2).item() == pytest.approx(math.log(4.0))
    s2 = torch.tensor([[0.0, 0.0, 5.0, 5.0]], dtype=torch.float64)
    logq = F.log_softmax(s2, -1)
    expected = -(4 / 7 * logq[0, 0] + 3 / 7 * logq[0, 1])
    assert kd_loss(s2, t, top_k=2).item() == pytest.approx(expected.item())


def test_top_p_example():
    # Teacher probabilities 0.5, 0.3, 0.15, 0.05 (in a shuffled order).
    p = torch.tensor([[0.15, 0.5, 0.05, 0.3]], dtype=torch.float64)
    t = p.log()
    # Cumulative in descending order: 0.5, 0.8, 0.95, 1.0.  Eq. 56 keeps the prefix with cumulative <= p.
    cases = {
        0.8: [0.0, 0.5 / 0.8, 0.0, 0.3 / 0.8],
        0.9: [0.0, 0.5 / 0.8, 0.0, 0.3 / 0.8],
        0.95: [0.15 / 0.95, 0.5 / 0.95, 0.0, 0.3 / 0.95],
        0.1: [0.0, 1.0, 0.0, 0.0],  # the top token is always kept
    }
    for top_p, expected in cases.items():
        got = teacher_log_probs(t, top_p=top_p).exp()
        torch.testing.assert_close(got, torch.tensor([expected], dtype=torch.float64), msg=str(top_p))
    # With top_k as well, the shorter prefix wins.
    got = teacher_log_probs(t, top_p=0.95, top_k=2).exp()
    torch.testing.assert_close(got, torch.tensor([[0.0, 0.5 / 0.8, 0.0, 0.3 / 0.8]], dtype=torch.float64))


def test_truncated_loss_is_finite_and_trains_only_through_kept_tokens():
    s = rand_logits(2, 8, seed=15).requires_grad_()
    t = rand_logits(2, 8, seed=16)
    loss = kd_loss(s, t, top_k=3)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(s.grad).all()
    kept = teacher_log_probs(t, top_k=3).exp()
    torch.testing.assert_close(s.grad * 2, F.softmax(s.detach(), -1) - kept)


def test_works_in_float32_and_with_extreme_logits():
    s = torch.tensor([[1e4, -1e4, 0.0]])
    t = torch.tensor([[-1e4, 1e4, 0.0]])
    y = torch.tensor([0])
    for value in (
        student_loss(s, y, t, mix=0.5),
        kd_loss(s, t, kl="reverse"),
        kl_divergence(t, s),
        kd_loss(s, t, top_p=0.5),
    ):
        assert torch.isfinite(value) and value.dtype == torch.float32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": float("inf")}, "temperature"),
        ({"kl": "both"}, "kl must be one of"),
        ({"top_k": 0}, "top_k"),
        ({"top_k": 2.5}, "top_k"),
        ({"top_k": 11}, "top_k must be <= the vocabulary size"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"kl": "reverse", "top_k": 3}, "kl='forward'"),
    ],
)
def test_bad_distillation_arguments_fail_clearly(kwargs, message):
    s, t = rand_logits(2, 10, seed=0), rand_logits(2, 10, seed=1)
    with pytest.raises(ValueError, match=message):
        kd_loss(s, t, **kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {"mix": 1.5}, "mix"),
        ((), {"mix": -0.1}, "mix"),
        ((), {"mix": 0.5}, "needs teacher_logits"),
        ((), {"z_loss_coef": -1.0}, "z_loss_coef"),
    ],
)
def test_bad_student_loss_arguments_fail_clearly(args, kwargs, message):
    s, y = rand_logits(2, 10, seed=0), torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match=message):
        student_loss(s, y, *args, **kwargs)


def test_shape_mismatches_fail_clearly():
    s = rand_logits(2, 10)
    with pytest.raises(ValueError, match="same shape"):
        kd_loss(s, rand_logits(2, 9))
    with pytest.raises(ValueError, match="targets must have shape"):
        next_token_loss(s, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="targets are needed"):
        student_loss(s, None, rand_logits(2, 10), mix=0.5)


def test_validate_is_tensor_free_for_spec_checks():
    losses.validate_distillation_args(temperature=2.0, mix=0.7, kl="forward", top_k=128, vocab_size=256)
    with pytest.raises(ValueError, match="top_k"):
        losses.validate_distillation_args(top_k=300, vocab_size=256)


def test_teacher_logits_from_inference_mode_need_no_copy():
    s = rand_logits(3, 8, seed=17).float().requires_grad_()
    with torch.inference_mode():
        t = rand_logits(3, 8, seed=18).float() * 1.0
    y = torch.zeros(3, dtype=torch.long)
    for kwargs in ({}, {"top_k": 3}, {"top_p": 0.5}, {"kl": "reverse"}, {"temperature": 2.0}):
        s.grad = None
        student_loss(s, y, t, mix=0.5, **kwargs).backward()
        assert torch.isfinite(s.grad).all()
