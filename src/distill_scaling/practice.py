"""Distillation in practice (paper App. G and E.8): the run designs of the ablations and their analysis.

Every experiment is a function returning :class:`Row` objects (an experiment name, a teacher-student pair,
the swept setting and its :class:`~distill_scaling.spec.RunSpec`), so a design is a table that joins the run
store by key. The experiments, each on a :class:`Pair`:

* :func:`mix_sweep` - the mixing coefficient lambda of Eq. 7 (paper Fig. 51); lambda = 0 is a supervised
  student (same loss, no teacher forward pass to pay for);
* :func:`temperature_sweep` - tau (Fig. 52); :func:`lr_sweep` - the peak learning rate (Fig. 53);
* :func:`top_k_sweep`, :func:`top_p_sweep` - truncated teacher distributions (Fig. 54), also with
  lambda = 0.7;
* :func:`kl_sweep` - forward against reverse KL (Table 7);
* :func:`calibration_sweep` - students of several teachers trained on the full distribution and on the
  teacher's top-1 token (top-k with k = 1 is exactly the one-hot top-1 target; Figs. 43-45).

Calibration is measured from checkpoints (:func:`calibration_of`): confidence, accuracy and the expected
calibration error (ECE) in equal-width confidence bins against the data, the teacher's top-1 token and the
teacher's distribution. :func:`storage_per_token` gives the bytes of offline logits each truncation needs.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import paths, runs, store, study
from .spec import RunSpec, run_flops

#: Student tokens of every practice run: the fewest that keep 500 optimiser steps. For the L2-d32 student that
#: is 20 tokens per parameter, the paper's M = 20 of its App. G sweeps.
STUDENT_TOKENS = 512_000

#: The swept values (issue 7; the paper's Figs. 51-54 use similar grids). ``None`` = no truncation.
MIXES = (0.0, 0.5, 0.7, 0.9, 0.97, 0.99, 1.0)
TEMPERATURES = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
#: Peak rates: the Setup chapter's grid from 0.00215 to 0.1 (1.7 decades) around STUDY_LR (0.0215).
LRS = (0.00215, 0.00464, 0.01, study.STUDY_LR, 0.0464, 0.1)
TOP_KS: tuple[int | None, ...] = (1, 4, 16, 64, None)
TOP_PS = (0.1, 0.3, 0.5, 0.7, 0.9, 1.0)
#: lambda of the paper's "top-k + lambda = 0.7" series.
TOP_K_MIX = 0.7
#: Seeds of the repeated base run (init seed = data-order seed), and of the close calls.
SEEDS = (0, 1, 2)
#: Equal-width confidence bins of the reliability diagrams (the paper's 21).
CALIBRATION_BINS = 21

EXPERIMENTS = (
    "noise",
    "mix",
    "temperature",
    "lr",
    "lr_supervised",
    "top_k",
    "top_k_mix",
    "top_p",
    "kl",
    "calibration",
)


class DesignError(ValueError):
    """A design argument is invalid; the message names it and the allowed values."""


@dataclass(frozen=True)
class Pair:
    """A teacher-student pair: ``name`` (e.g. ``strong-to-weak``), the student's model and token budget, and
    the teacher's run spec."""

    name: str
    student: str
    teacher: RunSpec
    tokens: int = STUDENT_TOKENS

    @property
    def label(self) -> str:
        return f"{self.teacher.model} → {self.student}"


@dataclass(frozen=True)
class Row:
    """One cell of a design: experiment, pair, the swept setting (``param`` = ``value``), the run spec."""

    experiment: str
    pair: str
    param: str
    value: float
    spec: RunSpec


def _check_values(name: str, values: Sequence[Any], ok, allowed: str) -> None:
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise DesignError(f"{name} = {values!r} is invalid; allowed: a non-empty list of {allowed}")
    bad = [v for v in values if not ok(v)]
    if bad:
        raise DesignError(f"{name} contains {bad!r}; allowed: {allowed}")


def _real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# -- pairs ---------------------------------------------------------------------------------------------------
def study_pairs(tokens: int = STUDENT_TOKENS) -> dict[str, Pair]:
    """The three pairs from the study's fixed-M* teachers (primary first).

    strong-to-weak: L3-d48 -> L2-d32 (3.3x the parameters, like the paper's Table 7 pair 1.82B -> 546M);
    matched: L2-d32 -> L2-d32; weak-to-strong: L2-d32 -> L3-d48.
    """
    t = {s.model: s for s in study.teacher_block()}
    return {
        "strong-to-weak": Pair("strong-to-weak", "L2-d32", t["L3-d48"], tokens),
        "matched": Pair("matched", "L2-d32", t["L2-d32"], tokens),
        "weak-to-strong": Pair("weak-to-strong", "L3-d48", t["L2-d32"], tokens),
    }


def calibration_teachers() -> list[RunSpec]:
    """The study's fixed-M* teachers (L2-d32 ... L5-d80): the teacher axis of the calibration figures."""
    return list(study.teacher_block())


def smoke_teachers(tokens: int = 16_384) -> dict[str, RunSpec]:
    """Tiny teachers for the smoke profile (seconds to train)."""
    return {m: RunSpec(m, tokens=tokens, split="teacher", lr=study.STUDY_LR) for m in ("L1-d16", "L2-d32")}


def smoke_pairs(tokens: int = 8_192) -> dict[str, Pair]:
    """Three tiny pairs with the roles of :func:`study_pairs`, for tests and the smoke profile."""
    t = smoke_teachers()
    return {
        "strong-to-weak": Pair("strong-to-weak", "L1-d16", t["L2-d32"], tokens),
        "matched": Pair("matched", "L1-d16", t["L1-d16"], tokens),
        "weak-to-strong": Pair("weak-to-strong", "L2-d32", t["L1-d16"], tokens),
    }


# -- specs ---------------------------------------------------------------------------------------------------
def distill_spec(pair: Pair, *, seed: int = 0, lr: float = study.STUDY_LR, **kw: Any) -> RunSpec:
    """A student of ``pair``: pure distillation (lambda = 1, tau = 1, forward KL, full distribution) unless
    ``kw`` changes it. lambda = 0 gives the supervised student (no teacher: same loss, no teacher cost);
    top_k = vocabulary and top_p = 1 are the untruncated run itself (same key)."""
    vocab = pair.teacher.config.vocab_size
    if kw.get("top_k") is not None and kw["top_k"] >= vocab:
        kw["top_k"] = None
    if kw.get("top_p") == 1.0:
        kw["top_p"] = None
    if kw.get("mix", 1.0) == 0.0:
        return RunSpec(pair.student, tokens=pair.tokens, split="student", lr=lr, seed=seed, data_seed=seed)
    spec = study.distill(pair.student, pair.tokens, pair.teacher, seed=seed, **kw)
    return spec if lr == spec.lr else spec.replace(lr=lr)


def base_rows(pair: Pair, seeds: Sequence[int] = SEEDS) -> list[Row]:
    """The base run (lambda = 1, tau = 1) over seeds: the seed noise every comparison is judged against."""
    _check_values("seeds", seeds, lambda s: isinstance(s, int) and s >= 0, "ints >= 0")
    return [Row("noise", pair.name, "seed", float(s), distill_spec(pair, seed=s)) for s in seeds]


def mix_sweep(pair: Pair, mixes: Sequence[float] = MIXES) -> list[Row]:
    """Paper Fig. 51: lambda in [0, 1] (0 = supervised, 1 = pure distillation)."""
    _check_values("mixes", mixes, lambda v: _real(v) and 0 <= v <= 1, "floats in [0, 1]")
    return [Row("mix", pair.name, "mix", float(m), distill_spec(pair, mix=float(m))) for m in mixes]


def temperature_sweep(pair: Pair, temperatures: Sequence[float] = TEMPERATURES) -> list[Row]:
    """Paper Fig. 52: the distillation temperature tau (lambda = 1)."""
    _check_values("temperatures", temperatures, lambda v: _real(v) and v > 0, "floats > 0")
    return [
        Row("temperature", pair.name, "temperature", float(t), distill_spec(pair, temperature=float(t)))
        for t in temperatures
    ]


def lr_sweep(pair: Pair, lrs: Sequence[float] = LRS, supervised: bool = False) -> list[Row]:
    """Paper Fig. 53: the peak learning rate of a pure-distillation student; with ``supervised`` the same
    sweep for the supervised student on the same tokens (experiment ``lr_supervised``), the control that
    tells a rate distillation needs from one the short budget needs."""
    _check_values("lrs", lrs, lambda v: _real(v) and v > 0, "floats > 0")
    mix, exp = (0.0, "lr_supervised") if supervised else (1.0, "lr")
    return [Row(exp, pair.name, "lr", float(x), distill_spec(pair, lr=float(x), mix=mix)) for x in lrs]


def top_k_sweep(pair: Pair, ks: Sequence[int | None] = TOP_KS, mix: float = 1.0) -> list[Row]:
    """Paper Fig. 54 (left): the teacher's top-k tokens only (``None`` = all), at lambda = ``mix``; the row's
    value is k, with "all" written as the vocabulary size."""
    vocab = pair.teacher.config.vocab_size
    _check_values("ks", ks, lambda k: k is None or (isinstance(k, int) and 1 <= k), "ints >= 1 or None (all)")
    experiment = "top_k" if mix == 1.0 else "top_k_mix"
    return [
        Row(experiment, pair.name, "top_k", float(k or vocab), distill_spec(pair, top_k=k, mix=mix))
        for k in ks
    ]


def top_p_sweep(pair: Pair, ps: Sequence[float] = TOP_PS) -> list[Row]:
    """Paper Fig. 54 (right): the teacher's top-p nucleus (Eq. 56), renormalised."""
    _check_values("ps", ps, lambda v: _real(v) and 0 < v <= 1, "floats in (0, 1]")
    return [Row("top_p", pair.name, "top_p", float(p), distill_spec(pair, top_p=float(p))) for p in ps]


def kl_sweep(pair: Pair) -> list[Row]:
    """Paper Table 7: forward KL(p_T || q_S) (value 0) against reverse KL(q_S || p_T) (value 1)."""
    return [
        Row("kl", pair.name, "kl", 0.0, distill_spec(pair, kl="forward")),
        Row("kl", pair.name, "kl", 1.0, distill_spec(pair, kl="reverse")),
    ]


def calibration_sweep(student: str, teachers: Iterable[RunSpec], tokens: int = STUDENT_TOKENS) -> list[Row]:
    """Paper Figs. 43-45: one student size, every teacher, trained on the teacher's full distribution (value
    0) and on its top-1 token (value 1; top-k with k = 1 renormalises to the one-hot argmax)."""
    rows = []
    for t in teachers:
        pair = Pair(f"calibration {t.model}", student, t, tokens)
        rows.append(Row("calibration", pair.name, "top1", 0.0, distill_spec(pair)))
        rows.append(Row("calibration", pair.name, "top1", 1.0, distill_spec(pair, top_k=1)))
    return rows


@dataclass(frozen=True)
class Grids:
    """The swept values of one design (defaults: the issue's)."""

    mixes: Sequence[float] = MIXES
    temperatures: Sequence[float] = TEMPERATURES
    lrs: Sequence[float] = LRS
    top_ks: Sequence[int | None] = TOP_KS
    top_ps: Sequence[float] = TOP_PS
    seeds: Sequence[int] = SEEDS


def design(
    pairs: dict[str, Pair],
    grids: Grids = Grids(),
    calibration_student: str | None = "L2-d32",
    teachers: Sequence[RunSpec] = (),
    primary: str = "strong-to-weak",
) -> list[Row]:
    """Every row of the chapter, most decisive first: the primary pair's noise, lambda and tau sweeps,
    top-k (with and without lambda = 0.7), KL direction, top-p, learning rate (distilled and supervised);
    then the calibration students;
    then lambda and tau on the other pairs."""
    if primary not in pairs:
        raise DesignError(f"primary = {primary!r} is not a pair; allowed: {', '.join(pairs)}")
    p = pairs[primary]
    rows = base_rows(p, grids.seeds) + mix_sweep(p, grids.mixes) + temperature_sweep(p, grids.temperatures)
    rows += top_k_sweep(p, grids.top_ks) + top_k_sweep(p, grids.top_ks, mix=TOP_K_MIX) + kl_sweep(p)
    rows += top_p_sweep(p, grids.top_ps) + lr_sweep(p, grids.lrs) + lr_sweep(p, grids.lrs, supervised=True)
    if calibration_student is not None:
        rows += calibration_sweep(calibration_student, teachers, p.tokens)
    for name, other in pairs.items():
        if name != primary:
            rows += mix_sweep(other, grids.mixes) + temperature_sweep(other, grids.temperatures)
    return rows


def design_frame(rows: Sequence[Row]) -> pd.DataFrame:
    """One line per row: experiment, pair, param, value, seed, key, model, teacher key."""
    return pd.DataFrame(
        [
            {
                "experiment": r.experiment,
                "pair": r.pair,
                "param": r.param,
                "value": r.value,
                "seed": r.spec.seed,
                "key": r.spec.key,
                "model": r.spec.model,
                "teacher": r.spec.teacher,
            }
            for r in rows
        ],
        columns=["experiment", "pair", "param", "value", "seed", "key", "model", "teacher"],
    )


def unique_specs(rows: Iterable[Row]) -> list[RunSpec]:
    """The rows' specs without duplicates (a base run serves several experiments), in row order."""
    seen: dict[str, RunSpec] = {}
    for r in rows:
        seen.setdefault(r.spec.key, r.spec)
    return list(seen.values())


def teacher_models(specs: Iterable[RunSpec], teachers: Iterable[RunSpec]) -> dict[str, str]:
    """Key -> teacher model name, for FLOP accounting of specs whose teachers are given by spec."""
    by_key = {t.key: t.model for t in teachers}
    return {s.key: by_key[s.teacher] for s in specs if s.teacher in by_key}


def design_flops(specs: Iterable[RunSpec], teachers: Iterable[RunSpec]) -> float:
    """Paper Eq. 9 FLOPs of the specs: student training plus the teacher's forward pass on every token."""
    tm = teacher_models(specs, teachers)
    return float(sum(run_flops(s, tm.get(s.key))["total"] for s in specs))


# -- results -------------------------------------------------------------------------------------------------
def results(rows: Sequence[Row], records: pd.DataFrame) -> pd.DataFrame:
    """The design joined with the records (``val_loss``, ``val_kl``, ``teacher_val_loss``, ``wall_time_s``,
    ``flops_total``); unrecorded rows keep NaN."""
    d = design_frame(rows)
    cols = ["val_loss", "val_kl", "teacher_val_loss", "wall_time_s", "flops_total", "train_time_s"]
    if records is None or records.empty:
        for c in cols:
            d[c] = np.nan
        return d
    rec = records.set_index("key", drop=False) if "key" in records.columns else records
    for c in cols:
        d[c] = d["key"].map(rec[c]) if c in rec.columns else np.nan
    return d


def noise_sd(res: pd.DataFrame) -> float:
    """Seed-to-seed standard deviation (ddof 1) of the base run's loss; NaN with fewer than two seeds."""
    v = res.loc[res["experiment"] == "noise", "val_loss"].dropna()
    return float(v.std(ddof=1)) if len(v) >= 2 else float("nan")


def summary(res: pd.DataFrame) -> pd.DataFrame:
    """Mean loss per (experiment, pair, value) over its recorded seeds, with the count and standard error."""
    g = res.dropna(subset=["val_loss"]).groupby(["experiment", "pair", "param", "value"])["val_loss"]
    out = g.agg(["mean", "count", "std"]).reset_index()
    out["sem"] = out["std"] / np.sqrt(out["count"])
    return out


def close_calls(res: pd.DataFrame, sd: float, experiments: Sequence[str], pair: str) -> pd.DataFrame:
    """Settings of ``experiments`` on ``pair`` whose seed-0 loss is within 2 sd of their sweep's best: the
    comparisons that need more seeds (the issue's rule)."""
    if not math.isfinite(sd):
        return res.iloc[:0]
    # Decided on the seed-0 runs alone, so that the repeats' own results never change which runs are repeated.
    s = summary(res[res["seed"] == 0])
    s = s[s["experiment"].isin(experiments) & (s["pair"] == pair)]
    best = s.groupby("experiment")["mean"].transform("min")
    return s[s["mean"] - best < 2 * sd]


def repeat_rows(
    rows: Sequence[Row],
    res: pd.DataFrame,
    sd: float,
    seeds: Sequence[int],
    pair: str,
    experiments: Sequence[str] = ("mix", "temperature", "top_k_mix", "kl"),
) -> list[Row]:
    """Rows of the close calls (see :func:`close_calls`) again with the extra ``seeds``."""
    close = close_calls(res, sd, experiments, pair)
    want = {(e, v) for e, v in zip(close["experiment"], close["value"], strict=True)}
    out = []
    for r in rows:
        if r.pair == pair and (r.experiment, r.value) in want and r.spec.seed == 0:
            for s in seeds:
                if s != 0:
                    spec = r.spec.replace(seed=s, data_seed=s)
                    out.append(Row(r.experiment, r.pair, r.param, r.value, spec))
    return out


# -- calibration ---------------------------------------------------------------------------------------------
def reliability(conf: np.ndarray, target: np.ndarray, bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """Reliability statistics of confidences ``conf`` against targets ``target`` (0/1 correctness, or the
    probability that the prediction is right) in ``bins`` equal-width bins of [0, 1].

    Returns per-bin mean confidence, mean target and count, and ECE = sum_b (n_b / n) |target_b - conf_b|.
    """
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 1:
        raise DesignError(f"bins = {bins!r} is invalid; allowed: an int >= 1")
    conf = np.asarray(conf, dtype=float).ravel()
    target = np.asarray(target, dtype=float).ravel()
    if conf.shape != target.shape:
        raise DesignError(f"conf and target must have the same length, got {conf.size} and {target.size}")
    idx = np.clip((conf * bins).astype(int), 0, bins - 1)
    count = np.bincount(idx, minlength=bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, conf, bins) / count
        mean_target = np.bincount(idx, target, bins) / count
    n = max(count.sum(), 1.0)
    gap = np.where(count > 0, np.abs(mean_target - mean_conf), 0.0)
    return {
        "conf": [None if math.isnan(x) else float(x) for x in mean_conf],
        "acc": [None if math.isnan(x) else float(x) for x in mean_target],
        "count": [int(c) for c in count],
        "ece": float((count / n * gap).sum()),
    }


def token_statistics(model, batches, teacher=None) -> dict[str, np.ndarray]:
    """Per validation token: the model's confidence (max probability) and whether its argmax is the data's
    next token; with a teacher also the teacher's confidence, whether the student's argmax is the teacher's,
    the teacher's probability of the student's argmax, and the student's probability of the teacher's."""
    import torch  # noqa: PLC0415 - torch is heavy: only this path needs it
    import torch.nn.functional as F  # noqa: PLC0415 - torch is heavy: only this path needs it

    out: dict[str, list] = {k: [] for k in ("conf", "correct", "t_conf", "agree", "t_prob_s", "s_prob_t")}
    model.eval()
    with torch.inference_mode():
        for x, y in batches:
            q = F.softmax(model(x).float(), dim=-1)
            conf, pred = q.max(dim=-1)
            out["conf"].append(conf.flatten())
            out["correct"].append((pred == y).flatten().float())
            if teacher is not None:
                p = F.softmax(teacher(x).float(), dim=-1)
                t_conf, t_pred = p.max(dim=-1)
                out["t_conf"].append(t_conf.flatten())
                out["agree"].append((pred == t_pred).flatten().float())
                out["t_prob_s"].append(p.gather(-1, pred.unsqueeze(-1)).flatten())
                out["s_prob_t"].append(q.gather(-1, t_pred.unsqueeze(-1)).flatten())
    return {k: torch.cat(v).numpy() for k, v in out.items() if v}


def calibration_from_statistics(stats: dict[str, np.ndarray], bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """The reliability analyses of App. E.8 from :func:`token_statistics`:

    ``data`` (Figs. 42-43): confidence against accuracy on the data; ``teacher_top1`` (Fig. 44): against
    agreement with the teacher's argmax; ``teacher_dist`` (Fig. 45, our reading of its distributional ECE):
    student confidence against the teacher's probability of the student's argmax, in student-confidence bins;
    ``teacher_bins`` (Fig. 46): in teacher-confidence bins, the teacher's confidence against the student's
    probability of the teacher's argmax.
    """
    out = {"tokens": int(stats["conf"].size), "data": reliability(stats["conf"], stats["correct"], bins)}
    out["mean_conf"] = float(stats["conf"].mean())
    out["accuracy"] = float(stats["correct"].mean())
    if "t_conf" in stats:
        out["teacher_top1"] = reliability(stats["conf"], stats["agree"], bins)
        out["teacher_dist"] = reliability(stats["conf"], stats["t_prob_s"], bins)
        out["teacher_bins"] = reliability(stats["t_conf"], stats["s_prob_t"], bins)
    return out


def calibration_of(
    spec: RunSpec,
    teacher: RunSpec | None = None,
    bins: int = CALIBRATION_BINS,
    eval_tokens: int | None = None,
) -> dict[str, Any]:
    """Calibration of a finished run from its checkpoint on the validation tokens (all, or the first
    ``eval_tokens``); against its teacher too when one is given."""
    from . import train  # noqa: PLC0415 - imports torch, which only this path needs

    batches = train.eval_batches(spec, eval_tokens)
    model = train.load_model(spec)
    t_model = train.load_model(teacher) if teacher is not None else None
    out = calibration_from_statistics(token_statistics(model, batches, t_model), bins)
    out.update({"model": spec.model, "teacher": teacher.key if teacher is not None else None})
    return out


def top_p_set_sizes(teacher: RunSpec, ps: Sequence[float] = TOP_PS, eval_tokens: int | None = None) -> dict:
    """Mean and 95th percentile of the number of tokens the top-p set (Eq. 56, as :mod:`losses` builds it)
    keeps per position, for the teacher's distribution on the validation tokens."""
    import torch  # noqa: PLC0415 - torch is heavy: only this path needs it

    from . import losses, train  # noqa: PLC0415 - imports torch, which only this path needs

    model = train.load_model(teacher)
    model.eval()
    sizes: dict[float, list] = {float(p): [] for p in ps}
    with torch.inference_mode():
        for x, _ in train.eval_batches(teacher, eval_tokens):
            z = model(x).float()
            for p in ps:
                kept = torch.isfinite(losses.teacher_log_probs(z, top_p=float(p))).sum(-1)
                sizes[float(p)].append(kept.flatten())
    out = {}
    for p, v in sizes.items():
        a = torch.cat(v).double()
        out[str(p)] = {"mean": float(a.mean()), "p95": float(a.quantile(0.95))}
    return out


def calibration_path() -> Path:
    """The committed calibration results (the default profile reads them; checkpoints are not committed)."""
    return paths.data_dir() / "practice" / "calibration.json"


def load_calibration(path: Path | None = None) -> dict[str, Any]:
    """The stored calibration results: ``{"bins", "models": {run key: ...}, "top_p_sizes": {teacher key:
    ...}}`` (empty sections when nothing is stored yet)."""
    path = Path(path or calibration_path())
    if not path.exists():
        return {"bins": CALIBRATION_BINS, "models": {}, "top_p_sizes": {}}
    with open(path) as f:
        return json.load(f)


def compute_calibration(
    specs: Sequence[RunSpec],
    teachers: Sequence[RunSpec],
    path: Path | None = None,
    bins: int = CALIBRATION_BINS,
    eval_tokens: int | None = None,
    ps: Sequence[float] = TOP_PS,
    runs_dir: Path | None = None,
) -> dict[str, Any]:
    """Measure the calibration of every teacher and every student in ``specs`` that has a checkpoint (and is
    not stored yet), the top-p set sizes of every teacher, and write them to ``path``; return the contents."""
    from . import train  # noqa: PLC0415 - imports torch: this module's designs and tables do not need it

    path = Path(path or calibration_path())
    data = load_calibration(path)
    if data.get("bins") != bins or data.get("eval_tokens") != eval_tokens:
        data = {"bins": bins, "eval_tokens": eval_tokens, "models": {}, "top_p_sizes": {}}
    by_key = {t.key: t for t in teachers}
    for t in teachers:
        if t.key not in data["models"] and train.checkpoint_exists(t.key):
            data["models"][t.key] = {"role": "teacher", **calibration_of(t, None, bins, eval_tokens)}
        if t.key not in data["top_p_sizes"] and train.checkpoint_exists(t.key):
            data["top_p_sizes"][t.key] = top_p_set_sizes(t, ps, eval_tokens)
    for s in specs:
        if s.key in data["models"] or not train.checkpoint_exists(s.key) or store.get(s, runs_dir) is None:
            continue
        t = by_key.get(s.teacher) if s.teacher else None
        if s.teacher and (t is None or not train.checkpoint_exists(t.key)):
            continue
        data["models"][s.key] = {"role": "student", **calibration_of(s, t, bins, eval_tokens)}
    store.write_json_atomic(path, data)
    return data


# -- offline-logit storage -----------------------------------------------------------------------------------
def storage_per_token(kept: float, vocab: int, value_bytes: int = 4) -> float:
    """Bytes per token of stored teacher logits when ``kept`` of ``vocab`` entries are stored: the full
    vector needs ``vocab * value_bytes``; a truncated one stores each kept value with its token index
    (ceil(log2 vocab / 8) bytes)."""
    if not _real(kept) or not 0 < kept <= vocab:
        raise DesignError(f"kept = {kept!r} is invalid; allowed: a number in (0, {vocab}]")
    if kept >= vocab:
        return float(vocab * value_bytes)
    index_bytes = math.ceil(math.log2(vocab) / 8)
    return float(kept * (value_bytes + index_bytes))


# -- training ------------------------------------------------------------------------------------------------
def ready(spec: RunSpec, runs_dir: Path | None = None) -> bool:
    """Whether a spec can train now: supervised, or its teacher is recorded and has its final weights."""
    from . import train  # noqa: PLC0415 - see compute_calibration

    return spec.teacher is None or (
        store.get(spec.teacher, runs_dir) is not None and train.checkpoint_exists(spec.teacher)
    )


def ensure_rows(
    rows: Sequence[Row],
    *,
    workers: int = 1,
    wait_s: float = 0.0,
    poll_s: float = 60.0,
    runs_dir: Path | None = None,
    train_teachers: bool = False,
    log=print,
    **train_kwargs: Any,
) -> list[RunSpec]:
    """Train the rows' missing runs in row order, one at a time (``workers`` = 1) or in a pool.

    Runs whose teacher is not recorded yet (the study may still be training it) wait: the ready ones train
    first, then this polls every ``poll_s`` seconds for up to ``wait_s`` seconds. ``train_teachers`` trains
    missing teachers instead (the smoke profile's tiny ones). Returns the specs still missing at the end.
    """
    todo = [s for s in unique_specs(rows) if not store.exists(s, runs_dir)]
    deadline = time.monotonic() + wait_s
    failed: list[RunSpec] = []
    while todo:
        # Readiness is checked again after every run: a teacher the study finishes meanwhile lets its
        # students in at their place in the priority order.
        spec = next((s for s in todo if train_teachers or ready(s, runs_dir)), None)
        if spec is None:
            if time.monotonic() >= deadline:
                break
            log(f"practice: {len(todo)} run(s) wait for their teachers")
            time.sleep(poll_s)
            continue
        log(f"practice: training {spec.label()} ({len(todo)} missing)")
        try:
            runs.ensure([spec], workers=workers, threads=1, progress=False, runs_dir=runs_dir, **train_kwargs)
        except RuntimeError as exc:  # one failed run must not stop the others; it stays missing
            log(f"practice: run {spec.key} failed: {str(exc).splitlines()[0]}")
            failed.append(spec)
        todo = [s for s in todo if not store.exists(s, runs_dir) and s not in failed]
    return todo + failed
