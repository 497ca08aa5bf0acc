"""The transformer, its muP (simple) parameterization and the zoo."""

from __future__ import annotations

import math

import pytest
import torch

from distill_scaling import model
from distill_scaling.model import ModelConfig, Transformer, config_from_name, param_groups, zoo, zoo_table

torch.set_num_threads(1)


def non_embedding_params(m: Transformer) -> int:
    return sum(p.numel() for name, p in m.named_parameters() if name != "embed.weight")


@pytest.mark.parametrize("cfg", zoo(), ids=lambda c: c.name)
def test_n_params_equals_what_the_modules_hold(cfg):
    m = Transformer(cfg)
    assert non_embedding_params(m) == cfg.n_params
    assert sum(p.numel() for p in m.parameters()) == cfg.n_params_total
    # Tied embeddings: one V x d matrix, and no separate output layer.
    assert cfg.n_params_total - cfg.n_params == cfg.vocab_size * cfg.d_model


def test_zoo_shapes_and_span():
    configs = zoo()
    assert [c.n_layers for c in configs] == list(range(1, 11))
    assert all(c.d_model == 16 * c.n_layers and c.n_heads == c.d_model // 16 for c in configs)
    assert all(c.d_ff % 8 == 0 and 0 <= c.d_ff - 8 * c.d_model / 3 < 8 for c in configs)
    n = [c.n_params for c in configs]
    assert n == sorted(n) and n[-1] / n[0] > 100  # at least two decades of N
    assert n[0] < 1e4 and n[-1] > 2e6


def test_zoo_table_matches_configs_and_the_paper_approximation():
    table = zoo_table()
    assert list(table["name"]) == [c.name for c in zoo()]
    assert list(table["N"]) == [c.n_params for c in zoo()]
    # The paper's 2N + 2 L n_ctx d + 2 V d approximation is within a few percent of the exact count;
    # 2N alone is not (the small models are dominated by attention-context and logit FLOPs).
    assert table["approx_rel_err"].abs().max() < 0.03
    assert table["2N_rel_err"].abs().max() > 0.3


def test_config_names_round_trip_and_bad_names_fail():
    cfg = config_from_name("L2-d32")
    assert cfg == ModelConfig(n_layers=2, d_model=32) and cfg.name == "L2-d32"
    assert config_from_name("L3-d48", vocab_size=64).vocab_size == 64
    for bad in ("L2d32", "l2-d32", "L2-d", 32):
        with pytest.raises(ValueError, match="L<n_layers>-d<d_model>"):
            config_from_name(bad)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_layers": 0, "d_model": 32}, "n_layers"),
        ({"n_layers": 2, "d_model": -32}, "d_model"),
        ({"n_layers": 2, "d_model": 40}, "multiple of head_dim"),
        ({"n_layers": 2, "d_model": 32, "vocab_size": 0}, "vocab_size"),
        ({"n_layers": 2, "d_model": 32, "n_ctx": 1.5}, "n_ctx"),
        ({"n_layers": 2, "d_model": 30, "head_dim": 15}, "even"),
        ({"n_layers": True, "d_model": 32}, "n_layers"),
    ],
)
def test_bad_configs_fail_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**kwargs)


def test_forward_shape_dtype_and_causality():
    cfg = ModelConfig(n_layers=2, d_model=32, vocab_size=64, n_ctx=16)
    m = Transformer(cfg, seed=1)
    idx = torch.randint(0, 64, (3, 16))
    logits = m(idx)
    assert logits.shape == (3, 16, 64) and logits.dtype == torch.float32
    # Changing a future token leaves earlier positions' logits unchanged.
    idx2 = idx.clone()
    idx2[:, 10] = (idx2[:, 10] + 1) % 64
    logits2 = m(idx2)
    torch.testing.assert_close(logits[:, :10], logits2[:, :10])
    assert not torch.allclose(logits[:, 10:], logits2[:, 10:])
    # Shorter sequences work (RoPE tables are sliced); longer than n_ctx is refused.
    assert m(idx[:, :5]).shape == (3, 5, 64)
    with pytest.raises(ValueError, match="n_ctx"):
        m(torch.zeros(1, 17, dtype=torch.long))


def test_init_is_deterministic_in_the_seed():
    cfg = ModelConfig(n_layers=2, d_model=32)
    a, b, c = Transformer(cfg, seed=3), Transformer(cfg, seed=3), Transformer(cfg, seed=4)
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pb), name
        if pa.ndim == 2:
            assert not torch.equal(pa, pc), name
    b.init_weights(4)
    assert all(torch.equal(pb, pc) for pb, pc in zip(b.parameters(), c.parameters(), strict=True))


def test_mup_init_scales():
    cfg = ModelConfig(n_layers=2, d_model=160)
    m = Transformer(cfg, seed=0)
    assert m.embed.weight.std().item() == pytest.approx(1.0, rel=0.05)
    block = m.blocks[0]
    assert block.qkv.weight.std().item() == pytest.approx(1 / math.sqrt(160), rel=0.05)
    assert block.down.weight.std().item() == pytest.approx(1 / math.sqrt(cfg.d_ff), rel=0.05)
    assert torch.all(block.qk_norm == 1) and torch.all(m.final_norm.weight == 1)


def test_param_groups_learning_rates_and_decoupled_weight_decay():
    cfg = ModelConfig(n_layers=2, d_model=128, base_width=32)
    m = Transformer(cfg)
    groups = {g["name"]: g for g in param_groups(m, lr=1e-2, weight_decay=1e-4)}
    assert set(groups) == {"hidden", "embedding", "gains"}
    assert groups["hidden"]["lr"] == pytest.approx(1e-2 * 32 / 128)
    assert groups["embedding"]["lr"] == groups["gains"]["lr"] == pytest.approx(1e-2)
    # torch's AdamW shrinks by lr * weight_decay: that product must be the paper's 1e-4 in every decayed
    # group.
    for name in ("hidden", "embedding"):
        assert groups[name]["lr"] * groups[name]["weight_decay"] == pytest.approx(1e-4)
    assert groups["gains"]["weight_decay"] == 0.0
    # Every parameter in exactly one group; hidden = all matrices but the embedding.
    ids = [id(p) for g in groups.values() for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in m.parameters())
    assert all(p.ndim == 2 for p in groups["hidden"]["params"])
    assert all(p.ndim < 2 or p.shape[-1] == cfg.head_dim for p in groups["gains"]["params"])


def test_adamw_step_applies_the_decoupled_decay():
    cfg = ModelConfig(n_layers=1, d_model=64)
    m = Transformer(cfg)
    opt = torch.optim.AdamW(param_groups(m, lr=1e-2, weight_decay=0.1), betas=(0.9, 0.95))
    w0 = m.blocks[0].qkv.weight.detach().clone()
    for p in m.parameters():  # zero gradients: the step is the weight decay alone
        p.grad = torch.zeros_like(p)
    opt.step()
    torch.testing.assert_close(m.blocks[0].qkv.weight.detach(), w0 * (1 - 0.1))


@pytest.mark.parametrize(("lr", "wd"), [(0.0, 1e-4), (-1e-2, 1e-4), (float("nan"), 1e-4), (1e-2, -1.0)])
def test_param_groups_validate(lr, wd):
    with pytest.raises(ValueError, match="lr|weight_decay"):
        param_groups(Transformer(ModelConfig(1, 16)), lr=lr, weight_decay=wd)


def test_one_learning_rate_trains_every_width():
    """A few steps at the paper's peak lr 1e-2 lower the loss on a learnable pattern at two widths."""
    gen = torch.Generator().manual_seed(0)
    seq = torch.randint(0, 32, (8,), generator=gen).repeat(5)[:33]  # a period-8 sequence
    x, y = seq[:-1].unsqueeze(0).repeat(4, 1), seq[1:].unsqueeze(0).repeat(4, 1)
    for d in (32, 96):
        m = Transformer(ModelConfig(n_layers=1, d_model=d, vocab_size=32, n_ctx=32), seed=0)
        opt = torch.optim.AdamW(param_groups(m, lr=1e-2), betas=(0.9, 0.95))
        first = None
        for _ in range(30):
            loss = torch.nn.functional.cross_entropy(m(x).reshape(-1, 32), y.reshape(-1))
            first = loss.item() if first is None else first
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert loss.item() < 0.5 * first, d


def test_throughput_reports_positive_figures():
    out = model.throughput(
        ModelConfig(n_layers=1, d_model=16, n_ctx=16), batch_size=2, steps=2, warmup=1, repeats=1
    )
    assert min(out.values()) > 0 and set(out) >= {"tokens_per_s", "tokens_per_cpu_s", "gflops_per_s"}


def reference_block_attention_inputs(qk, gains, cfg, T):
    """Plain autograd QK-norm and RoPE (rotate-half form), the reference for the fused function."""
    normed = torch.nn.functional.rms_norm(qk, (cfg.head_dim,), eps=1e-6) * gains
    half = cfg.head_dim // 2
    inv_freq = cfg.rope_base ** (-torch.arange(half, dtype=torch.float64) / half)
    angle = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq
    cos, sin = angle.cos()[:, None, None, :], angle.sin()[:, None, None, :]
    a, b = normed[..., :half], normed[..., half:]
    return torch.cat((a * cos - b * sin, b * cos + a * sin), dim=-1)


def test_fused_rmsnorm_matches_autograd_reference():
    x = torch.randn(3, 5, 8, dtype=torch.float64, requires_grad=True)
    w = (1 + 0.1 * torch.randn(8, dtype=torch.float64)).requires_grad_()
    torch.testing.assert_close(
        model._RMSNormFn.apply(x, w, 1e-6), torch.nn.functional.rms_norm(x, (8,), w, eps=1e-6)
    )
    assert torch.autograd.gradcheck(lambda x, w: model._RMSNormFn.apply(x, w, 1e-6), (x, w))


def test_fused_qk_norm_rope_matches_autograd_reference():
    cfg = ModelConfig(n_layers=1, d_model=32, n_ctx=4)
    cos2, sin2 = (t.double() for t in model._rope_tables(cfg))
    qk = torch.randn(1, 4, 2, cfg.n_heads, cfg.head_dim, dtype=torch.float64, requires_grad=True)
    g = (1 + 0.1 * torch.randn(2, 1, cfg.head_dim, dtype=torch.float64)).requires_grad_()
    fused = model.QKNormRoPEFn.apply(qk, g, cos2, sin2, 1e-6)
    torch.testing.assert_close(fused, reference_block_attention_inputs(qk, g, cfg, 4))
    assert torch.autograd.gradcheck(lambda a, b: model.QKNormRoPEFn.apply(a, b, cos2, sin2, 1e-6), (qk, g))


def test_rope_scores_depend_only_on_relative_position():
    cfg = ModelConfig(n_layers=1, d_model=16, n_ctx=32)
    cos2, sin2 = model._rope_tables(cfg)
    vec = torch.randn(2, cfg.head_dim)
    # The same query and key vectors at every position: q_i . k_j must depend on i - j only.
    qk = vec[None, None, :, None, :].expand(1, 32, 2, 1, cfg.head_dim).contiguous()
    out = model.QKNormRoPEFn.apply(qk, torch.ones(2, 1, cfg.head_dim), cos2, sin2, 1e-6)
    q, k = out[0, :, 0, 0], out[0, :, 1, 0]
    scores = q @ k.T
    torch.testing.assert_close(scores[5, 2], scores[20, 17])
    torch.testing.assert_close(scores[9, 9], scores[0, 0])


def test_bf16_autocast_runs_and_stays_close_to_float32():
    m = Transformer(ModelConfig(n_layers=2, d_model=32), seed=0)
    x = torch.randint(0, 256, (2, 64), generator=torch.Generator().manual_seed(0))
    y = torch.roll(x, -1, dims=1)
    ref = torch.nn.functional.cross_entropy(m(x).reshape(-1, 256), y.reshape(-1))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = m(x)
    assert logits.dtype == torch.float32
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 256), y.reshape(-1))
    loss.backward()
    assert abs(loss.item() - ref.item()) < 0.05
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in m.parameters())


def test_composite_path_for_torch_compile_matches_the_fused_functions(monkeypatch):
    m = Transformer(ModelConfig(n_layers=2, d_model=32), seed=0)
    x = torch.randint(0, 256, (2, 32), generator=torch.Generator().manual_seed(0))
    fused = m(x)
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    torch.testing.assert_close(m(x), fused, rtol=1e-5, atol=1e-5)
