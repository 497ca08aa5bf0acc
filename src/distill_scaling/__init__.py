"""Distillation Scaling Laws (Busbridge et al., 2025) reproduced at small scale.

The modules a researcher uses, in the order data flows through them (README, "Architecture", has the rest):

- :mod:`~distill_scaling.corpus`: the byte-level corpora (``get_source("text")``) and their batches.
- :mod:`~distill_scaling.model`, :mod:`~distill_scaling.flops`: the transformer zoo (``config_from_name``)
  and its FLOP counts.
- :mod:`~distill_scaling.spec`: ``RunSpec``, what one training run is; its ``key`` names its record.
- :mod:`~distill_scaling.train`: ``train(spec)`` trains one run (a distillation run gets its teacher's spec).
- :mod:`~distill_scaling.store`: the run records in ``data/runs/`` (``load_records()`` as a table).
- :mod:`~distill_scaling.runs`: ``ensure(specs)`` trains whatever records are missing, in parallel.
- :mod:`~distill_scaling.study`: the study's run designs by block (``python -m distill_scaling study``).
- :mod:`~distill_scaling.laws`: the paper's supervised and distillation laws and its coefficients.
- :mod:`~distill_scaling.fit`, :mod:`~distill_scaling.bootstrap`: the paper's fitting procedure and its
  bootstrap intervals.
- :mod:`~distill_scaling.fits`: the laws fitted to our runs (``load_fit("supervised")``);
  :mod:`~distill_scaling.fit_files`: the coefficient sets the planner reads (``load_coefficient_set``).
- :mod:`~distill_scaling.optimal`, :mod:`~distill_scaling.planner`: compute-optimal distillation and the
  planner (``python -m distill_scaling plan``).
- :mod:`~distill_scaling.verdicts`: the paper's claims judged on our records (``data/findings.json``).
- :mod:`~distill_scaling.plots`, :mod:`~distill_scaling.presentation`: the book's figure theme and helpers;
  how numbers, labels and tables read on its pages.

Above them: :mod:`~distill_scaling.chapters` (one module per chapter), :mod:`~distill_scaling.notebook` (a
chapter notebook's ``setup``), :mod:`~distill_scaling.book` (the build) and :mod:`~distill_scaling.cli`
(``python -m distill_scaling <command>``).
"""

__version__ = "0.1.0"
