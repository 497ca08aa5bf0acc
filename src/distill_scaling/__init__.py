"""Distillation Scaling Laws (Busbridge et al., 2025) reproduced at small scale.

One module per concern (see README, "Architecture"): paths, corpus, model, flops, losses, spec, train, store,
runs, laws, fit, optimal, plots, notebook (parameters of the book's chapters), book (the build pipeline).
"""

__version__ = "0.1.0"
