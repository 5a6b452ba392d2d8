"""Studies: one command each, every step resumable, results as data.

* ``analora study multitask``: one chip, five GLUE tasks in a bank, against
  each task swept alone; parameter accounting.
* ``analora study readapt``: the paper's 8-bit to 6-bit converter change,
  absorbed by retraining adapters only.
* ``analora study refresh``: adapters refreshed for chip age bands.
"""
