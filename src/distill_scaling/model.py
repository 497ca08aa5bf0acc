"""The paper's decoder-only transformer at small scale, its muP (simple) parameterization, and the model zoo.

Architecture (paper section 4.1 / App. I, scaled down; digest section 5.1):

* byte-level vocabulary (256 by default), context ``n_ctx = 128``;
* pre-normalisation with RMSNorm, no biases anywhere, a final RMSNorm;
* multi-head attention (one key/value head per query head) through the fused
  ``F.scaled_dot_product_attention(is_causal=True)``, head size 16;
* QK-norm: RMSNorm over each head's query and key vectors, with gains of size ``head_dim`` shared by the heads
  (the paper's parameter table counts "QKNorm: 2 d_head" per layer);
* RoPE with base 10000.  The paper uses 500k at 4096 tokens of context; what matters is how the slowest
  rotary wavelength compares with the context: base / n_ctx is 122 for the paper and 78 here, whereas 500k at
  128 tokens (ratio 3900) would leave most of the only 8 frequency pairs of a 16-wide head turning by less
  than a degree across the whole context, i.e. wasted;
* gated MLP with SiLU gate (SwiGLU), hidden size ``8/3 d_model`` rounded up to a multiple of 8;
* tied input and output embeddings;
* a fixed aspect ratio ``d_model / n_layers = 16``.  At ``d_model = 32`` the attention-context FLOPs
  ``2 n_ctx d_model`` per layer are a third of the matmul FLOPs ``24 d_model^2``, the same ratio as in the
  paper's 103M model (``n_ctx / d_model = 4`` in both); across the zoo ``n_ctx / d_model`` runs from 8 to
  0.8, against 4 to 0.8 across the paper's Table 13 (d_model = 1024 to 5120).

muP (simple), after Wortsman et al. (2024, "Small-scale proxies for large-scale Transformer training
instabilities", section 3.4), which the paper uses so that one peak learning rate (1e-2) serves every width:

* hidden matrices (attention q/k/v/output, MLP gate/up/down) are initialised with std ``1/sqrt(fan_in)``
  and get the Adam learning rate ``lr * base_width / d_model``;
* the embedding is initialised with std 1 and gets the unscaled learning rate ``lr``;
* normalisation gains start at 1 and get the unscaled learning rate, without weight decay;
* weight decay is independent of the learning rate (Loshchilov-Hutter "decoupled"; see :func:`param_groups`).

These are the "Adam" rules of muP in the form of Yang et al. (2022, Tensor Programs V, Table 8), the form
that allows input/output weight sharing: input weights with constant init and learning rate, hidden weights
with init variance 1/fan_in and learning rate proportional to 1/fan_in, output logits multiplied by
1/fan_in.  "Simple" (Wortsman et al.) keeps the usual 1/sqrt(head_dim) attention scale and does not scale
depth.

Tied embeddings: the one matrix is both the input embedding (muP: O(1) entries, unscaled learning rate) and
the unembedding (muP: its contribution to the logits must shrink like 1/width, because an Adam update moves
every entry by O(lr) in a direction correlated with the final hidden state, so the logit change grows like
``d_model * lr``).  We keep the matrix in its embedding role and multiply the final hidden state by
``sqrt(base_width) / d_model`` before the unembedding matmul.  The 1/d_model part is muP's output multiplier
(width-independent logit updates); the ``sqrt(base_width)`` constant makes the model at the base width
identical to the standard ``1/sqrt(fan_in)`` readout, so initial logits have unit scale there and shrink like
``sqrt(base_width / d_model)`` above it.  Scaling the d_model-wide hidden state rather than the V-wide logits
costs ``d_model`` instead of ``V`` multiplications per token.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from distill_scaling import flops, losses

#: d_model / n_layers, fixed across the zoo (see the module docstring for why 16).
ASPECT_RATIO = 16
#: The zoo's depths: n_layers = 1..10, d_model = 16..160.
ZOO_LAYERS = tuple(range(1, 11))
#: The scale profiles of the study and what each changes in a model's shape (``config_from_name(name,
#: **PROFILE_SHAPES[profile])``). ``cpu`` is the zoo above; ``gpu`` (``study --profile gpu``) has a context of
#: 1024 tokens and heads of 64 dimensions, the shape of the H200 measurement its hours are sized from (issue
#: 14: L12-d768, head dim 64, context 1024), at the aspect ratio ``GPU_ASPECT_RATIO``.
PROFILE_SHAPES: dict[str, dict[str, float]] = {
    "cpu": {},
    "gpu": {"n_ctx": 1024, "head_dim": 64, "rope_base": 100_000.0},
}
#: d_model / n_layers of the gpu profile's zoo: L12-d768 (85M non-embedding parameters) is its largest model.
GPU_ASPECT_RATIO = 64
GPU_ZOO_LAYERS = tuple(range(2, 13))
_NAME = re.compile(r"^L(\d+)-d(\d+)$")


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """Shape of one transformer; everything else (d_ff, heads, parameter counts) follows from it."""

    n_layers: int
    d_model: int
    vocab_size: int = 256
    n_ctx: int = 128
    head_dim: int = 16
    base_width: int = 32
    rope_base: float = 10000.0

    def __post_init__(self) -> None:
        for name in ("n_layers", "d_model", "vocab_size", "n_ctx", "head_dim", "base_width"):
            _check_positive_int(name, getattr(self, name))
        if self.d_model % self.head_dim:
            raise ValueError(
                f"d_model ({self.d_model}) must be a multiple of head_dim ({self.head_dim}) "
                "so that n_heads = d_model / head_dim is whole"
            )
        if self.head_dim % 2:
            raise ValueError(f"head_dim must be even for RoPE, got {self.head_dim}")
        if not (isinstance(self.rope_base, int | float) and self.rope_base > 1):
            raise ValueError(f"rope_base must be a number > 1, got {self.rope_base!r}")

    @property
    def name(self) -> str:
        """Short name such as ``"L2-d32"`` (shape only; vocabulary and context are not part of it)."""
        return f"L{self.n_layers}-d{self.d_model}"

    @property
    def n_heads(self) -> int:
        return self.d_model // self.head_dim

    @property
    def d_ff(self) -> int:
        """Hidden size of the gated MLP: 8/3 d_model rounded up to a multiple of 8."""
        return 8 * math.ceil(8 * self.d_model / 3 / 8)

    @property
    def width_mult(self) -> float:
        """d_model / base_width: muP divides the hidden matrices' learning rate by this."""
        return self.d_model / self.base_width

    @property
    def logit_mult(self) -> float:
        """Multiplier of the final hidden state before the tied unembedding (module docstring)."""
        return math.sqrt(self.base_width) / self.d_model

    @property
    def n_params_layer(self) -> int:
        """Parameters of one block: q, k, v, o (4 d^2), gated MLP (3 d d_ff), RMSNorm and QK-norm gains."""
        d = self.d_model
        return 4 * d * d + 3 * d * self.d_ff + 2 * d + 2 * self.head_dim

    @property
    def n_params(self) -> int:
        """Non-embedding parameters N: every parameter except the (tied) embedding matrix.

        Normalisation gains (two per block, the QK-norm gains and the final norm) are included, as in the
        paper's parameter table; they are 0.1-3% of N across the zoo.
        """
        return self.n_layers * self.n_params_layer + self.d_model

    @property
    def n_params_embedding(self) -> int:
        return self.vocab_size * self.d_model

    @property
    def n_params_total(self) -> int:
        """All parameters: N plus the one tied embedding matrix."""
        return self.n_params + self.n_params_embedding


def config_from_name(name: str, **kwargs: object) -> ModelConfig:
    """``"L2-d32"`` -> ``ModelConfig(n_layers=2, d_model=32, **kwargs)``."""
    match = _NAME.match(name) if isinstance(name, str) else None
    if match is None:
        raise ValueError(f"model name must look like 'L<n_layers>-d<d_model>', e.g. 'L2-d32'; got {name!r}")
    return ModelConfig(n_layers=int(match[1]), d_model=int(match[2]), **kwargs)


def zoo(vocab_size: int = 256, n_ctx: int = 128) -> list[ModelConfig]:
    """The model zoo: n_layers = 1..10 at d_model = 16 n_layers (N from ~3e3 to ~3e6)."""
    return [
        ModelConfig(n_layers=n, d_model=ASPECT_RATIO * n, vocab_size=vocab_size, n_ctx=n_ctx)
        for n in ZOO_LAYERS
    ]


def gpu_zoo() -> list[ModelConfig]:
    """The gpu profile's zoo: n_layers = 2..12 at d_model = 64 n_layers, context 1024, heads of 64 (N from
    ~0.4M to ~85M)."""
    return [
        ModelConfig(n_layers=n, d_model=GPU_ASPECT_RATIO * n, **PROFILE_SHAPES["gpu"]) for n in GPU_ZOO_LAYERS
    ]


def zoo_table(vocab_size: int = 256, n_ctx: int = 128):
    """The zoo as a pandas DataFrame shaped like the paper's Table 13.

    Columns: name, n_layers, d_model, d_ff, n_heads, N (non-embedding), N_total, flops_fwd (exact forward
    FLOPs per token, :func:`distill_scaling.flops.forward_flops`), flops_fwd_approx (the paper's
    2N + 2 n_layers n_ctx d_model + 2 n_vocab d_model) and flops_fwd_2N, each approximation with its relative
    error against the exact count.
    """
    import pandas as pd  # noqa: PLC0415 - pandas is slow to import: only this path needs it

    rows = []
    for cfg in zoo(vocab_size=vocab_size, n_ctx=n_ctx):
        exact = flops.forward_flops(cfg)
        approx = flops.approx_forward_flops(cfg)
        two_n = 2 * cfg.n_params
        rows.append(
            {
                "name": cfg.name,
                "n_layers": cfg.n_layers,
                "d_model": cfg.d_model,
                "d_ff": cfg.d_ff,
                "n_heads": cfg.n_heads,
                "N": cfg.n_params,
                "N_total": cfg.n_params_total,
                "flops_fwd": exact,
                "flops_fwd_approx": approx,
                "approx_rel_err": approx / exact - 1.0,
                "flops_fwd_2N": two_n,
                "2N_rel_err": two_n / exact - 1.0,
            }
        )
    return pd.DataFrame(rows)


def _rope_tables(cfg: ModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """RoPE as ``u * cos2 + swap_halves(u) * sin2``: tables [n_ctx, 1, 1, head_dim] for [B, T, 2, H, Dh].

    ``cos2 = (cos, cos)`` and ``sin2 = (-sin, sin)`` over the two halves of a head, so that with
    ``u = (a, b)`` the result is ``(a cos - b sin, b cos + a sin)``: each pair (a_i, b_i) rotated by its
    angle.
    """
    half = cfg.head_dim // 2
    inv_freq = cfg.rope_base ** (-torch.arange(half, dtype=torch.float64) / half)
    angles = torch.arange(cfg.n_ctx, dtype=torch.float64)[:, None] * inv_freq[None, :]
    cos, sin = angles.cos(), angles.sin()
    shape = (cfg.n_ctx, 1, 1, cfg.head_dim)
    return torch.cat((cos, cos), -1).float().reshape(shape), torch.cat((-sin, sin), -1).float().reshape(shape)


def inv_rms(x: torch.Tensor, eps: float) -> torch.Tensor:
    """1 / sqrt(mean(x^2) + eps) over the last dimension, kept as [..., 1], in at least float32."""
    x32 = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    return torch.linalg.vector_norm(x32, dim=-1, keepdim=True).square_().div_(x.shape[-1]).add_(eps).rsqrt_()


def rms_backward(gx: torch.Tensor, xhat: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Gradient through xhat = x r(x), given the gradient ``gx`` at xhat (overwritten)."""
    m = (gx * xhat).mean(-1, keepdim=True)
    return gx.sub_(xhat * m).mul_(r)


class _RMSNormFn(torch.autograd.Function):
    """y = x / rms(x) * w with a hand-written backward.

    Eager autograd of the composite RMSNorm on the CPU runs about a dozen elementwise kernels; this runs
    four forward and seven backward, and saves the normalised input once.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
        r = inv_rms(x, eps)
        xhat = (x * r).to(x.dtype)
        ctx.save_for_backward(xhat, r, w)
        return xhat * w

    @staticmethod
    def backward(ctx, gy: torch.Tensor):
        xhat, r, w = ctx.saved_tensors
        gw = (gy * xhat).reshape(-1, xhat.shape[-1]).sum(0).to(w.dtype)
        gx = rms_backward(gy * w, xhat, r).to(xhat.dtype)
        return gx, gw, None


class QKNormRoPEFn(torch.autograd.Function):
    """QK-norm then RoPE on the stacked queries and keys ``qk`` [B, T, 2, H, Dh], gains ``g`` [2, 1, Dh];
    or, for a group of runs trained as one (:mod:`distill_scaling.batched`), ``qk`` [G, B, T, 2, H, Dh] and
    one gain per run ``g`` [G, 1, 1, 2, 1, Dh].

    One function instead of about twenty autograd nodes (normalise, gain, split, rotate, concatenate); the
    backward applies the transposed rotation ``g * cos2 + swap_halves(g * sin2)``.
    """

    @staticmethod
    def forward(ctx, qk, g, cos2, sin2, eps: float):
        r = inv_rms(qk, eps)
        xhat = (qk * r).to(qk.dtype)
        u = xhat * g
        half = u.shape[-1] // 2
        out = u * cos2
        out.addcmul_(u.roll(half, -1), sin2)
        ctx.save_for_backward(xhat, r, g, cos2, sin2)
        return out

    @staticmethod
    def backward(ctx, go):
        xhat, r, g, cos2, sin2 = ctx.saved_tensors
        half = go.shape[-1] // 2
        gu = go * cos2
        gu.add_((go * sin2).roll(half, -1))
        lead = go.dim() - 5  # 1 with a group dimension in front, else 0
        # The gains' gradient sums over batch and time, then over heads: the same reductions, in the same
        # order, with or without a group, so a grouped run's gradient is bit-identical to the run alone.
        gg = (gu * xhat).sum(dim=(lead, lead + 1)).sum(lead + 1, keepdim=True).reshape(g.shape).to(g.dtype)
        gx = rms_backward(gu * g, xhat, r).to(xhat.dtype)
        return gx, gg, None, None, None


class RMSNorm(nn.Module):
    """RMSNorm over the last dimension with a learnable gain (no bias), eps = 1e-6."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_compiling():  # inductor fuses the composite form better than our function
            return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)
        return _RMSNormFn.apply(x, self.weight, self.eps)


def _qk_norm_rope(qk, g, cos2, sin2, eps: float) -> torch.Tensor:
    """QK-norm and RoPE: the fused function in eager mode, composite operations under ``torch.compile``."""
    if not torch.compiler.is_compiling():
        return QKNormRoPEFn.apply(qk, g, cos2, sin2, eps)
    u = F.rms_norm(qk, (qk.shape[-1],), eps=eps) * g
    return u * cos2 + u.roll(u.shape[-1] // 2, -1) * sin2


class Block(nn.Module):
    """One pre-norm transformer block: x + Attn(RMSNorm(x)), then x + SwiGLU(RMSNorm(x))."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d, self.n_heads, self.head_dim = cfg.d_model, cfg.n_heads, cfg.head_dim
        self.d_ff = cfg.d_ff
        self.attn_norm = RMSNorm(d)
        # q, k and v in one matmul (same fan-in, same muP treatment as three separate matrices).
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        # QK-norm gains: row 0 for queries, row 1 for keys, shared by the heads.
        self.qk_norm = nn.Parameter(torch.ones(2, 1, cfg.head_dim))
        self.attn_out = nn.Linear(d, d, bias=False)
        self.mlp_norm = RMSNorm(d)
        # SwiGLU gate and up projections in one matmul: first d_ff rows gate, last d_ff rows up.
        self.gate_up = nn.Linear(d, 2 * cfg.d_ff, bias=False)
        self.down = nn.Linear(cfg.d_ff, d, bias=False)

    def forward(self, x: torch.Tensor, cos2: torch.Tensor, sin2: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        qkv = self.qkv(self.attn_norm(x)).view(B, T, 3, self.n_heads, self.head_dim)
        qk = _qk_norm_rope(qkv[:, :, :2], self.qk_norm, cos2, sin2, 1e-6)
        q, k = qk.transpose(1, 3).unbind(2)  # [B, H, T, Dh] each
        v = qkv[:, :, 2].transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn_out(y.transpose(1, 2).reshape(B, T, C))
        gate, up = self.gate_up(self.mlp_norm(x)).split(self.d_ff, dim=-1)
        return x + self.down(F.silu(gate) * up)


class Transformer(nn.Module):
    """Decoder-only transformer; ``forward(idx[B, T]) -> float32 logits[B, T, V]``."""

    def __init__(self, config: ModelConfig, seed: int = 0) -> None:
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise TypeError(f"config must be a ModelConfig, got {type(config).__name__}")
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.final_norm = RMSNorm(config.d_model)
        cos2, sin2 = _rope_tables(config)
        # Not persistent: derived from the config, so checkpoints stay small and device moves carry them.
        self.register_buffer("rope_cos", cos2, persistent=False)
        self.register_buffer("rope_sin", sin2, persistent=False)
        self.init_weights(seed)

    def init_weights(self, seed: int) -> None:
        """muP (simple) initialisation, deterministic in ``seed`` and independent of the device.

        Embedding: N(0, 1); hidden matrices: N(0, 1/fan_in); normalisation gains: 1.  Draws come from a CPU
        generator in parameter-registration order, so a seed gives the same weights on every device.
        """
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.ndim == 2:
                    std = 1.0 if name == "embed.weight" else 1.0 / math.sqrt(p.shape[1])
                    p.copy_(torch.randn(p.shape, generator=gen) * std)
                else:
                    p.fill_(1.0)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.shape[-1]
        if idx.ndim != 2 or T > self.config.n_ctx:
            raise ValueError(
                f"idx must be [batch, time] with time <= n_ctx = {self.config.n_ctx}; "
                f"got shape {tuple(idx.shape)}"
            )
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        x = self.embed(idx)
        for block in self.blocks:
            x = block(x, cos, sin)
        x = self.final_norm(x) * self.config.logit_mult
        return F.linear(x, self.embed.weight).float()


def param_groups(model: Transformer, lr: float, weight_decay: float = 1e-4) -> list[dict]:
    """AdamW parameter groups implementing muP (simple) and decoupled weight decay.

    Groups (each dict also carries ``name``, ``lr_mult`` and ``peak_lr`` for schedulers and logs):

    * ``hidden``: attention and MLP matrices, ``lr * base_width / d_model``, weight decay;
    * ``embedding``: the tied embedding, ``lr``, weight decay;
    * ``gains``: RMSNorm and QK-norm gains, ``lr``, no weight decay.

    Weight decay is *decoupled* in the Loshchilov-Hutter sense the paper uses (1e-4): each step shrinks a
    matrix by ``weight_decay * s_t``, where ``s_t = lr_t / peak_lr`` is the schedule factor, independent of
    the group's learning rate.  ``torch.optim.AdamW`` shrinks by ``group_lr_t * group_weight_decay``, so every
    group gets ``weight_decay / peak_group_lr``.  This holds as long as the scheduler scales every group's lr
    by the same factor (``LambdaLR``, or ``g["lr"] = g["peak_lr"] * s_t``).  Without the division, muP's
    smaller learning rate would also shrink the wide models' decay, coupling it to width.
    """
    if not isinstance(model, Transformer):
        raise TypeError(f"model must be a Transformer, got {type(model).__name__}")
    if not (isinstance(lr, int | float) and not isinstance(lr, bool) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if not (isinstance(weight_decay, int | float) and math.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
    hidden, embedding, gains = [], [], []
    for name, p in model.named_parameters():
        if name == "embed.weight":
            embedding.append(p)
        elif p.ndim == 2:
            hidden.append(p)
        else:
            gains.append(p)
    groups = []
    for name, params, mult, decay in (
        ("hidden", hidden, 1.0 / model.config.width_mult, True),
        ("embedding", embedding, 1.0, True),
        ("gains", gains, 1.0, False),
    ):
        group_lr = lr * mult
        groups.append(
            {
                "params": params,
                "name": name,
                "lr": group_lr,
                "peak_lr": group_lr,
                "lr_mult": mult,
                "weight_decay": weight_decay / group_lr if decay else 0.0,
            }
        )
    return groups


def throughput(
    config: ModelConfig,
    batch_size: int = 32,
    n_threads: int = 1,
    steps: int = 20,
    warmup: int = 3,
    repeats: int = 3,
    lr: float = 1e-2,
) -> dict[str, float]:
    """Tokens per second of a supervised training step (forward, loss, backward, clip, AdamW) on the CPU.

    A micro-benchmark on random tokens.  Returns ``tokens_per_s`` (wall clock), ``tokens_per_cpu_s`` (process
    CPU time, less sensitive to other processes on a shared machine), ``seconds_per_step`` and
    ``gflops_per_s`` (wall clock, by the exact forward-FLOP count x 3).  Each figure is the best of
    ``repeats`` blocks of ``steps`` steps: timings on a shared machine are noisy.
    """
    for name, value in (
        ("batch_size", batch_size),
        ("n_threads", n_threads),
        ("steps", steps),
        ("repeats", repeats),
    ):
        _check_positive_int(name, value)
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        model = Transformer(config, seed=0)
        opt = torch.optim.AdamW(param_groups(model, lr), betas=(0.9, 0.95), eps=1e-8)
        gen = torch.Generator().manual_seed(0)
        data = torch.randint(0, config.vocab_size, (batch_size, config.n_ctx + 1), generator=gen)
        x, y = data[:, :-1], data[:, 1:]

        def step() -> None:
            loss = losses.student_loss(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()

        for _ in range(warmup):
            step()
        seconds = cpu_seconds = float("inf")
        for _ in range(repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(steps):
                step()
            seconds = min(seconds, (time.perf_counter() - wall) / steps)
            cpu_seconds = min(cpu_seconds, (time.process_time() - cpu) / steps)
    finally:
        torch.set_num_threads(previous)
    tokens = batch_size * config.n_ctx
    return {
        "tokens_per_s": tokens / seconds,
        "tokens_per_cpu_s": tokens / cpu_seconds,
        "seconds_per_step": seconds,
        "gflops_per_s": 3 * flops.forward_flops(config) * tokens / seconds / 1e9,
    }
