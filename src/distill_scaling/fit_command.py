"""``python -m distill_scaling fit``: fit a law to the study's recorded runs with its chapter's parameters.

The command sits above the chapters (it takes the defaults of the law's chapter, 06 or 07, so that it stores
the fit the book would make); the fitting itself is :mod:`distill_scaling.fits`.
"""

from __future__ import annotations

from . import distillation_study as ds
from . import fit, paths
from . import supervised_study as ss
from .errors import CommandParser, InputError, int_or_text
from .fit_files import fit_path
from .fits import LAWS, N_RESAMPLES, current_fit, supervised_inside, update_ours
from .notebook import validate_chapter
from .runs import ensure
from .store import load_records


def cli(argv: list[str]) -> int:
    """``python -m distill_scaling fit --law supervised|distillation [--profile default|full]
    [--n-resamples N] [--workers N] [--refit]``: fit a law to the study's recorded runs and store it in
    ``data/fits/<law>.json`` (the distillation law also refreshes ``data/fits/ours.json``)."""
    ap = CommandParser(
        prog="python -m distill_scaling fit",
        description="Fit a law to the study's runs with the paper's procedure and its bootstrap; store it in "
        "data/fits/<law>.json (the distillation law also writes data/fits/ours.json, the planner's "
        "--coefficients ours). Options take the values of the law's chapter (06 or 07) by default.",
    )
    ap.add_argument("--law", choices=list(LAWS), help="which law to fit (required)")
    ap.add_argument(
        "--profile",
        choices=("default", "full"),
        default="default",
        help="default: fit what is recorded; full: train the law's missing runs of the study first",
    )
    ap.add_argument("--n-resamples", type=int_or_text, help=f"bootstrap resamples ({N_RESAMPLES})")
    ap.add_argument(
        "--workers",
        type=int_or_text,
        help="processes for training (--profile full) and for the bootstrap refits (2; same fit for any)",
    )
    ap.add_argument(
        "--refit", action="store_true", help="refit even if the stored fit is for exactly these runs"
    )
    args = ap.parse_args(argv)
    if args.law is None:
        raise InputError(f"argument --law is required; allowed: {', '.join(LAWS)}")
    given = {"profile": args.profile, "n_resamples": args.n_resamples, "workers": args.workers}
    P = validate_chapter(LAWS[args.law].chapter, {k: v for k, v in given.items() if v is not None})
    supervised_design = ss.study_design()
    design = supervised_design if args.law == "supervised" else ds.study_design()
    if P["profile"] == "full":
        import torch  # noqa: PLC0415 - heavy; only training needs it

        torch.set_num_threads(1)
        specs = ss.study_specs() if args.law == "supervised" else ds.study_specs()
        kw = {"eval_tokens": P["eval_tokens"]} if P["eval_tokens"] else {}
        ensure(specs, workers=P["workers"], threads=1, progress=True, **kw)
    records = load_records(paths.runs_dir())
    supervised_runs = ss.supervised_runs(records, supervised_design)
    options = {"level": P["level"], "maxiter": P["fit_maxiter"] or None}
    if args.law == "supervised":
        table, inside = supervised_runs, None
        print(f"{len(table)} of {design['key'].nunique()} supervised runs of the study's design recorded")
    else:
        dist = ds.distillation_runs(records, design)
        table = ds.fit_runs(dist)
        inside = supervised_inside(
            supervised_runs, fit_path("supervised"), refine=fit.DEFAULT_REFINE["supervised"], **options
        )
        print(
            f"{dist['key'].nunique()} of {design['key'].nunique()} distillation runs of the study's design "
            f"recorded; the supervised law inside: {inside.source}"
        )
    state = current_fit(
        args.law, table, fit_path(args.law), n_resamples=P["n_resamples"], live_resamples=P["live_resamples"],
        write=True, refit=args.refit, supervised=None if inside is None else inside.coef,
        provenance=None if inside is None else {"supervised": inside.note}, refine=P["fit_refine"],
        workers=P["workers"], **options,
    )  # fmt: skip
    if state.fit is None:
        print(f"nothing stored: {state.reason}")
        return 0
    print(f"stored {fit_path(args.law)} ({state.source}): {state.fit.params}")
    if args.law == "distillation":
        print(update_ours(state.fit))
    return 0
