"""Tests of the capacity-gap toy models (paper App. C): kernel regression and the MLP mapping problem."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.optimize import minimize

from distill_scaling import toys

torch.set_num_threads(1)

# --- Kernel regression ------------------------------------------------------------------------------------


def _project(coef: np.ndarray, radius: float) -> np.ndarray:
    """Euclidean projection of a coefficient vector onto the ball of the given radius."""
    norm = np.linalg.norm(coef)
    return coef if norm <= radius else coef * (radius / norm)


def test_kernel_regression_matches_explicit_projections():
    # Independent route: build teacher and student coefficient vectors and measure the error directly.
    rng = np.random.default_rng(7)
    alpha = rng.uniform(-1, 1, 60)
    res = toys.kernel_regression(alpha, [10, 35], teacher_norm=3.0, student_norm=2.0)
    for j, m in enumerate(res.m):
        teacher = np.zeros_like(alpha)
        teacher[:m] = _project(alpha[:m], 3.0)
        assert res.teacher_error[j] == pytest.approx(np.linalg.norm(alpha - teacher), rel=1e-12)
        for i, n in enumerate(res.n):
            student = np.zeros_like(alpha)
            student[:n] = _project(teacher[:n], 2.0)
            assert res.student_error[i, j] == pytest.approx(np.linalg.norm(alpha - student), rel=1e-12)


def test_kernel_regression_closed_form_is_the_constrained_optimum():
    # A generic constrained optimiser must not find a better teacher or student than the closed form.
    alpha = np.array([0.9, -0.7, 0.5, 0.8, -0.6])
    T, D, m, n = 1.2, 0.8, 4, 2
    res = toys.kernel_regression(alpha, [n], teacher_norm=T, student_norm=D, m=[m])
    ball_t = {"type": "ineq", "fun": lambda g: T**2 - g @ g}
    teacher = minimize(lambda g: np.sum((alpha[:m] - g) ** 2), np.zeros(m), constraints=[ball_t]).x
    t_err = math.sqrt(np.sum((alpha[:m] - teacher) ** 2) + np.sum(alpha[m:] ** 2))
    assert res.teacher_error[0] == pytest.approx(t_err, rel=1e-5)
    ball_s = {"type": "ineq", "fun": lambda h: D**2 - h @ h}
    student = minimize(lambda h: np.sum((teacher[:n] - h) ** 2), np.zeros(n), constraints=[ball_s]).x
    s_err = math.sqrt(np.sum((alpha[:n] - student) ** 2) + np.sum(alpha[n:] ** 2))
    assert res.student_error[0, 0] == pytest.approx(s_err, rel=1e-5)


@pytest.mark.parametrize("seed", range(25))
def test_kernel_regression_u_shape_on_random_draws(seed):
    """The proven property (App. C.1): student error non-increasing in m below n, non-decreasing above,
    so the best teacher has exactly the student's capacity."""
    rng = np.random.default_rng(seed)
    size = int(rng.integers(50, 1001))
    alpha = rng.uniform(-1, 1, size)
    target = np.linalg.norm(alpha)
    # The theory's regime D <= T < ||alpha||, drawn at random (the paper's Fig. 10 uses T = 5, D = 4.5).
    T = rng.uniform(0.5, 0.9) * target
    D = rng.uniform(0.1, 1.0) * T
    n = sorted(set(rng.integers(1, size + 1, 6).tolist()))
    res = toys.kernel_regression(alpha, n, teacher_norm=T, student_norm=D)
    assert toys.u_shape_violations(res) == []
    assert res.best_teacher().tolist() == n


def test_paper_fig10_setting():
    alpha = toys.draw_alpha(1000, seed=0)
    assert alpha.min() >= -1 and alpha.max() <= 1
    n = [300, 400, 500, 600, 700, 800]
    res = toys.kernel_regression(alpha, n, teacher_norm=5.0, student_norm=4.5)
    assert res.m.tolist() == list(range(1, 1001))
    assert res.best_teacher().tolist() == n
    assert toys.u_shape_violations(res) == []
    # The teacher keeps improving with capacity: its error is non-increasing in m.
    assert np.all(np.diff(res.teacher_error) <= 1e-12)
    # A capacity gap: the biggest teacher is strictly worse than the matched one exactly when it has shrunk
    # the student's part of the target below the student's own norm budget (T^2 S_n / S_1000 < D^2);
    # otherwise the student is saturated at norm D either way and its error is flat beyond m = n.
    head = np.cumsum(alpha**2)
    shrunk = 5.0**2 * head[np.array(n) - 1] / head[-1] < 4.5**2
    gap = res.student_error[:, -1] - res.student_error.min(axis=1)
    assert shrunk[:5].all() and np.all(gap[shrunk] > 1e-3) and np.all(gap[~shrunk] < 1e-9)


def test_u_shape_check_detects_a_violation():
    alpha = toys.draw_alpha(100, seed=1)
    res = toys.kernel_regression(alpha, [40], teacher_norm=3.0, student_norm=2.0)
    # A student that kept improving with its teacher (no capacity gap) violates the right half of the U.
    broken = toys.KernelRegressionResult(**{**res.__dict__, "student_error": res.teacher_error[None, :]})
    assert toys.u_shape_violations(broken)
    assert all(m >= 40 for _, m in toys.u_shape_violations(broken))


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"teacher_norm": 1.0, "student_norm": 2.0}, "student_norm"),
        ({"teacher_norm": -1.0}, "teacher_norm"),
        ({"m": [0, 5]}, "m must be integers in [1, 20]"),
        ({"m": [1.5]}, "m must be integers"),
    ],
)
def test_kernel_regression_rejects_bad_input(kwargs, needle):
    with pytest.raises(ValueError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        toys.kernel_regression(np.ones(20), [5], **kwargs)


def test_kernel_regression_rejects_bad_student_capacity():
    with pytest.raises(ValueError, match="n must be integers"):
        toys.kernel_regression(np.ones(20), [21])


# --- The mapping problem: data ------------------------------------------------------------------------------


def _rule_label_set(context: list[int], q: int) -> set[int]:
    """The labels the paper's rule allows, written as a plain loop (independent of the vectorised code)."""
    if context[q] == 0:
        return {q}
    others = {j for j, v in enumerate(context) if v == context[q] and j != q}
    return others or {q}


@pytest.mark.parametrize("context", toys.CONTEXT_MODES)
def test_mapping_batch_follows_the_rule(context):
    k = 8
    batch = toys.mapping_batch(3000, k, context=context, generator=torch.Generator().manual_seed(3))
    assert batch.x.shape == (3000, 2 * k) and batch.y.shape == (3000,) and batch.probs.shape == (3000, k)
    assert torch.allclose(batch.probs.sum(1), torch.ones(3000))
    for x, y, p in zip(batch.x.tolist(), batch.y.tolist(), batch.probs, strict=True):
        ctx, one_hot = [int(v) for v in x[:k]], x[k:]
        assert set(ctx) <= {0, 1, 2} and sorted(one_hot) == [0.0] * (k - 1) + [1.0]
        allowed = _rule_label_set(ctx, one_hot.index(1.0))
        assert y in allowed
        assert set(torch.nonzero(p).flatten().tolist()) == allowed
        assert torch.allclose(p[list(allowed)], torch.full((len(allowed),), 1 / len(allowed)))
        if context == "pairs":
            assert ctx.count(1) == 2 and ctx.count(2) == 2 and len(allowed) == 1


def test_mapping_batch_is_reproducible_and_fresh():
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a, b = toys.mapping_batch(64, generator=g1), toys.mapping_batch(64, generator=g2)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    c = toys.mapping_batch(64, generator=g1)
    assert not torch.equal(a.x, c.x)


def test_pairs_contexts_are_uniform_over_positions():
    batch = toys.mapping_batch(40_000, 8, context="pairs", generator=torch.Generator().manual_seed(11))
    ctx = batch.x[:, :8]
    for value in (1, 2):
        freq = (ctx == value).float().mean(0)
        assert torch.allclose(freq, torch.full((8,), 0.25), atol=0.015)
    assert torch.allclose(torch.bincount(batch.y, minlength=8) / 40_000.0, torch.full((8,), 1 / 8), atol=0.01)


def test_bayes_limits_iid_match_monte_carlo():
    batch = toys.mapping_batch(200_000, 8, context="iid", generator=torch.Generator().manual_seed(2))
    p_true = batch.probs.gather(1, batch.y[:, None]).squeeze(1)
    ce = float(-torch.log(p_true).mean())
    acc = float(batch.probs.max(1).values.mean())
    limits = toys.bayes_limits(8, "iid")
    assert limits["cross_entropy"] == pytest.approx(ce, abs=0.01)
    assert limits["accuracy"] == pytest.approx(acc, abs=0.005)
    assert toys.bayes_limits(8, "pairs") == {"cross_entropy": 0.0, "accuracy": 1.0}


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: toys.mapping_batch(0), "batch_size"),
        (lambda: toys.mapping_batch(4, 3, context="pairs"), "num_classes must be an int >= 4"),
        (lambda: toys.mapping_batch(4, 1), "num_classes must be an int >= 2"),
        (lambda: toys.mapping_batch(4, 8, context="random"), "context must be one of"),
        (lambda: toys.bayes_probs(torch.zeros(3, 5)), "x must have shape"),
    ],
)
def test_mapping_problem_rejects_bad_input(call, needle):
    with pytest.raises(ValueError, match=needle):
        call()


# --- Models, schedule, training ----------------------------------------------------------------------------


def test_mlp_shape_and_parameter_count():
    model = toys.mlp(32, 8)
    assert sum(p.numel() for p in model.parameters()) == toys.mlp_params(32, 8)
    assert model(torch.zeros(5, 16)).shape == (5, 8)
    hidden = [m for m in model if isinstance(m, torch.nn.Linear)][:-1]
    assert [m.out_features for m in hidden] == [32, 32]
    assert sum(isinstance(m, torch.nn.ReLU) for m in model) == 2


def test_default_steps_is_the_papers_rule():
    # 500 x 512 samples or 20 N, whichever is larger.
    assert toys.default_steps(16) == 500
    n = toys.mlp_params(512)
    assert toys.default_steps(512) == math.ceil(20 * n / 512) > 500


def test_one_cycle_schedule():
    total, peak = 1000, 3e-4
    lrs = [toys.one_cycle_lr(s, total, peak) for s in range(total)]
    warm = 50  # 5% of the steps
    assert lrs[warm - 1] == pytest.approx(peak)
    assert all(b > a for a, b in zip(lrs[: warm - 1], lrs[1:warm], strict=True))
    assert all(b <= a for a, b in zip(lrs[warm:-1], lrs[warm + 1 :], strict=True))
    assert lrs[-1] < 1e-3 * peak
    assert lrs[0] == pytest.approx(peak / warm)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"width": 0}, "width"),
        ({"steps": 0}, "steps"),
        ({"teacher": "oracle"}, "teacher must be"),
        ({"context": "x"}, "context must be one of"),
        ({"teacher": toys.MLPRun(width=4, seed=0, num_classes=6)}, "same problem"),
    ],
)
def test_mlp_run_rejects_bad_specs(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        toys.MLPRun(**{"width": 8, "seed": 0, **kwargs})


def test_run_key_covers_the_teacher():
    t1, t2 = toys.MLPRun(width=8, seed=0, steps=10), toys.MLPRun(width=8, seed=0, steps=20)
    s1, s2 = toys.MLPRun(width=4, seed=0, teacher=t1), toys.MLPRun(width=4, seed=0, teacher=t2)
    assert s1.key() != s2.key() and s1.key() == toys.MLPRun(width=4, seed=0, teacher=t1).key()
    assert s1.kind == "distilled" and t1.kind == "supervised"
    assert toys.MLPRun(width=4, seed=0, teacher="bayes").kind == "bayes"


# A larger learning rate than the paper's 3e-4 lets a few hundred steps show learning.
def test_students_never_start_from_their_teachers_weights_or_samples():
    teacher = toys.MLPRun(width=8, seed=0, steps=5)
    student = toys.MLPRun(width=8, seed=0, steps=5, teacher=teacher)
    other = toys.MLPRun(width=8, seed=0, steps=5, teacher=toys.MLPRun(width=16, seed=0, steps=5))
    (t_init, t_gen), (s_init, s_gen), (o_init, o_gen) = (toys._streams(r) for r in (teacher, student, other))
    assert t_init != s_init == o_init  # students of one seed are paired across teachers
    t_batch, s_batch = toys.mapping_batch(16, generator=t_gen), toys.mapping_batch(16, generator=s_gen)
    assert not torch.equal(t_batch.x, s_batch.x)
    assert torch.equal(s_batch.x, toys.mapping_batch(16, generator=o_gen).x)


TINY = {"batch_size": 128, "num_classes": 8, "peak_lr": 1e-2}


def test_training_learns_and_is_deterministic():
    eval_set = toys.eval_batch(8, size=4096)
    run = toys.MLPRun(width=64, seed=1, steps=300, **TINY)
    init = toys.evaluate(toys.mlp(64, 8), eval_set)
    model, record = toys.train(run, eval_set=eval_set)
    assert record["cross_entropy"] < init["cross_entropy"] - 0.7
    assert record["accuracy"] > 0.4  # an untrained MLP is near 1/8
    _, again = toys.train(run, eval_set=eval_set)
    assert again["cross_entropy"] == record["cross_entropy"]
    assert record["provenance"]["torch_version"] == torch.__version__ and record["key"] == run.key()

    student = toys.MLPRun(width=16, seed=1, steps=200, teacher=run, **TINY)
    _, srec = toys.train(student, model, eval_set=eval_set)
    assert srec["kind"] == "distilled" and srec["cross_entropy"] < init["cross_entropy"] - 0.3
    assert 0 < srec["kl_to_teacher"] < 1.0 and "kl_to_teacher" not in record
    with pytest.raises(ValueError, match="teacher_model"):
        toys.train(student)


def test_distillation_uses_the_training_core_loss(monkeypatch):
    from distill_scaling import losses

    calls = []
    real = losses.kd_loss

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(losses, "kd_loss", spy)
    run = toys.MLPRun(width=8, seed=0, steps=3, teacher="bayes", context="iid", **TINY)
    toys.train(run, eval_set=toys.eval_batch(8, "iid", size=256))
    assert len(calls) == 3 and calls[0] == {"temperature": 1.0, "kl": "forward"}


# --- The experiment and its store --------------------------------------------------------------------------


def _tiny_experiment(**kwargs) -> toys.MappingExperiment:
    base = {
        "student_widths": (4, 8),
        "teacher_widths": (8, 16),
        "teacher_steps": (2, 4),
        "fig12_teacher_width": 16,
        "seeds": (0, 1),
        "batch_size": 32,
        "student_steps": 3,
        "teacher_default_steps": 3,
    }
    return toys.MappingExperiment(**{**base, **kwargs})


def test_experiment_plan_orders_teachers_before_students():
    exp = _tiny_experiment()
    plan = exp.plan()
    # Per seed: students of widths 4 and 8 on labels and on the Bayes distribution, 4 teachers with 2 students
    # each. The width-8 fig11 teacher (3 steps, on labels) is the width-8 supervised student: counted once.
    assert len(plan) == 2 * (2 + 2 + 4 * (1 + 2) - 1)
    seen = set()
    for _, run in plan:
        if isinstance(run.teacher, toys.MLPRun):
            assert run.teacher.key() in seen
        seen.add(run.key())
    assert {r.kind for _, r in plan} == {"supervised", "bayes", "distilled"}
    assert {r.kind for _, r in _tiny_experiment(context="pairs").plan()} == {"supervised", "distilled"}


def test_ensure_trains_missing_runs_once(tmp_path, monkeypatch):
    exp = _tiny_experiment()
    store = toys.ResultStore(toys.results_path(tmp_path))
    records = toys.ensure(exp, store, checkpoints=tmp_path / "ckpt", progress=False)
    assert len(records) == len(exp.plan())
    saved = json.loads(toys.results_path(tmp_path).read_text())
    assert len(saved["records"]) == len(records)
    assert all(np.isfinite(r["cross_entropy"]) and 0 <= r["accuracy"] <= 1 for r in records)

    def no_training(*args, **kwargs):
        raise AssertionError("nothing should be trained when every record exists")

    monkeypatch.setattr(toys, "train", no_training)
    again = toys.ensure(exp, toys.ResultStore(toys.results_path(tmp_path)), progress=False)
    assert [r["key"] for r in again] == [r["key"] for r in records]

    with pytest.raises(FileNotFoundError, match="missing"):
        toys.ensure(_tiny_experiment(seeds=(2,)), store, train_missing=False, progress=False)


def test_ensure_resumes_students_from_a_checkpointed_teacher(tmp_path):
    exp = _tiny_experiment(seeds=(0,), references=False)
    store = toys.ResultStore(toys.results_path(tmp_path))
    first = toys.ensure(exp, store, checkpoints=tmp_path / "ckpt", progress=False)
    # Drop one student; its teacher's record stays, so the teacher comes back from its checkpoint.
    student = next(r for r in first if r["kind"] == "distilled")
    del store.records[student["key"]]
    store.save()
    again = toys.ensure(exp, store, checkpoints=tmp_path / "ckpt", progress=False)
    redone = next(r for r in again if r["key"] == student["key"])
    assert redone["cross_entropy"] == pytest.approx(student["cross_entropy"], abs=1e-6)


def test_store_merges_concurrent_writers(tmp_path):
    path = toys.results_path(tmp_path)
    a, b = toys.ResultStore(path), toys.ResultStore(path)
    a.add({"key": "k1", "value": 1})
    b.add({"key": "k2", "value": 2})  # b never saw k1, but must not drop it
    assert set(toys.ResultStore(path).records) == {"k1", "k2"}
    b.refresh()
    assert "k1" in b


def test_committed_results_keep_their_keys_and_bytes(tmp_path):
    """data/toys/mlp_mapping.json: every record's key re-hashes from its spec, and the store (the shared
    atomic writer) writes the file back byte for byte."""
    committed = toys.results_path()
    records = json.loads(committed.read_text())["records"]
    assert records and all(toys.spec_key(r["spec"]) == r["key"] for r in records)
    copy = toys.results_path(tmp_path)
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(committed.read_bytes())
    toys.ResultStore(copy).save()
    assert copy.read_bytes() == committed.read_bytes()
    assert [p.name for p in copy.parent.iterdir()] == [copy.name]  # no lock or temporary file left


def test_summary_quantiles():
    exp = _tiny_experiment(seeds=(0,))
    records = [
        {
            "key": str(i),
            "kind": "supervised",
            "spec": {**run.as_dict(), "seed": i},
            "cross_entropy": float(i),
            "accuracy": 0.5,
            "wall_s": 1.0,
        }
        for i, (_, run) in enumerate(exp.plan()[:1] * 5)
    ]
    frame = toys.records_frame(records)
    summary = toys.quantile_summary(frame, ["width"])
    row = summary.iloc[0]
    assert row[("cross_entropy", "median")] == 2.0
    assert row[("cross_entropy", "q25")] == 1.0 and row[("cross_entropy", "q75")] == 3.0
    assert row[("seeds", "n")] == 5


# --- Devices and the chapter's command line ----------------------------------------------------------------


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "mps", "", 0])
def test_check_device_names_the_allowed_values(bad):
    with pytest.raises(ValueError, match="'cpu', 'cuda' or 'cuda:N'"):
        toys.check_device(bad)


def test_check_device_refuses_a_missing_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="not available on this machine"):
        toys.check_device("cuda")
    assert toys.check_device("cpu") == "cpu"


def test_train_records_its_device():
    run = toys.MLPRun(width=4, seed=0, steps=2, batch_size=8)
    _, record = toys.train(run, eval_set=toys.eval_batch(8, "iid", size=64), device="cpu")
    assert record["provenance"]["device"] == "cpu"
    with pytest.raises(ValueError, match="device"):
        toys.train(run, device="tpu")


def test_toys_command_refuses_bad_seeds_and_devices_before_training(monkeypatch, capsys):
    from distill_scaling import cli

    def no_training(*args, **kwargs):
        raise AssertionError("nothing may be trained on bad input")

    monkeypatch.setattr(toys, "ensure", no_training)
    for argv, message in [
        (["--profile", "smoke", "--seeds", "5"], "--seeds must be comma-separated ints from [0, 1]"),
        (["--profile", "smoke", "--seeds", "a,b"], "--seeds"),
        (["--profile", "smoke", "--device", "gpu"], "--device"),
        (["--profile", "fast"], "argument --profile: invalid choice: 'fast'"),
    ]:
        assert cli.main(["toys", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_mapping_records_trains_only_the_given_seeds(tmp_path, monkeypatch):
    from distill_scaling.chapters import capacity_gap_toys as chapter
    from distill_scaling.params import Params, validate, with_profile

    P = Params(validate(with_profile(chapter.PARAMS), {"profile": "smoke"}))
    P.scratch, P.runs_dir = True, tmp_path / "runs"
    seen = {}

    def fake_ensure(experiment, store, **kwargs):
        seen["seeds"], seen["device"] = experiment.seeds, kwargs["device"]
        return []

    monkeypatch.setattr(toys, "ensure", fake_ensure)
    chapter.mapping_records(P, seeds=[1], progress=False)
    assert seen == {"seeds": (1,), "device": "cpu"}


def test_seeds_text_counts_seeds_across_each_seeds_own_teacher(tmp_path):
    # Students of different seeds have different teachers (each seed trains its own): the count must group
    # them by the teacher's width and steps, not by the teacher's key.
    from distill_scaling.chapters import capacity_gap_toys as chapter

    exp = _tiny_experiment(seeds=(0, 1))
    store = toys.ResultStore(toys.results_path(tmp_path))
    frame = toys.records_frame(toys.ensure(exp, store, progress=False))
    assert chapter.seeds_text(frame, exp) == "2"
    assert chapter.seeds_text(frame[frame["seed"] == 0], exp) == "1"
    mixed = frame[(frame["seed"] == 0) | (frame["kind"] != "distilled")]
    assert chapter.seeds_text(mixed, exp) == "1 to 2"


def _shape_row(weak: float, best: float, strong: float, u: bool) -> dict:
    return {
        "best teacher": 256,
        "CE, weakest teacher": weak,
        "CE, best teacher": best,
        "CE, strongest teacher": strong,
        "seeds where strongest is worse": "3/4",
        "U-shape": u,
    }


def test_u_shape_numbers_name_the_shape_and_give_its_numbers():
    from distill_scaling.chapters import capacity_gap_toys as chapter

    table = pd.DataFrame(
        [_shape_row(1.2, 1.0, 1.1, True), _shape_row(1.2, 1.0, 1.0, False), _shape_row(1.0, 1.0, 1.3, False)],
        index=pd.Index([128, 256, 362], name="student width"),
    )
    u = chapter.u_shape_numbers(table, 128, "x")
    assert u["x_shape"] == "a U-shape" and u["x_ce_best"] == 1.0 and u["x_worse"] == "3/4"
    assert u["x_best_teacher"] == 256 and all(type(v) in (int, float, str) for v in u.values())
    assert chapter.u_shape_numbers(table, 256, "x")["x_shape"].startswith("no U-shape: it keeps improving")
    assert "monotone capacity gap" in chapter.u_shape_numbers(table, 362, "x")["x_shape"]
    missing = chapter.u_shape_numbers(table, 999, "x")
    assert missing["x_shape"] == "no recorded runs" and np.isnan(missing["x_ce_best"])


def test_device_and_context_numbers_count_the_records():
    from distill_scaling.chapters import capacity_gap_toys as chapter

    frame = pd.DataFrame({"device": ["cpu", "cuda (NVIDIA H100 80GB HBM3)", "cuda (NVIDIA H100 80GB HBM3)"]})
    assert chapter.device_numbers(frame) == {
        "map_runs_cpu": 1,
        "map_runs_gpu": 2,
        "map_gpus": "NVIDIA H100 80GB HBM3",
    }
    assert chapter.device_numbers(frame.iloc[:1])["map_gpus"] == "none"
    readings = pd.DataFrame(
        {"context": ["iid", "iid"], "width": [8, 16], "cross-entropy": [1.0, 0.5], "accuracy": [0.6, 0.9]}
    ).set_index(["context", "width"])
    n = chapter.context_numbers(readings)
    assert (n["map_iid_inside"], n["map_iid_students"], n["map_iid_acc_hi"]) == (1, 2, 0.9)
    assert n["map_pairs_students"] == 0 and np.isnan(n["map_pairs_acc_lo"])
    assert chapter.context_table(readings).loc["pairs", "supervised students"] == 0
