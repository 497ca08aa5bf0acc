"""One module per chapter of the book: its parameter specification (``PARAMS``) and chapter-only figures.

The notebook ``notebooks/NN_<slug>.ipynb`` belongs to the module ``distill_scaling.chapters.<slug>``.
"""
