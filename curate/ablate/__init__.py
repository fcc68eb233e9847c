"""Proxy-model data ablations (``curate ablate``): does a filter make better training data?

Train the same small GPT on a baseline arm (the data before a filter) and a treatment arm (after it),
token-matched, over several seeds; evaluate on held-out text and zero-shot tasks; report the
treatment-minus-baseline difference with 95% intervals.

- :mod:`curate.ablate.model`, :mod:`curate.ablate.train`: the proxy decoder, its presets and trainer
- :mod:`curate.ablate.evals`, :mod:`curate.ablate.decontam`: evaluation and 13-gram decontamination
- :mod:`curate.ablate.data`: the arms (filter in-process, decontaminate, held-out split, tokenise)
- :mod:`curate.ablate.harness`: the command (checks, run cache, evaluation of every model)
- :mod:`curate.ablate.report`: intervals, CORE aggregate, leaderboard, JSON / Markdown / PNG

The package needs only the standard library, numpy, pyarrow, torch, tiktoken and matplotlib, so it
runs on a bare GPU machine (``PYTHONPATH=. python3 -m curate.cli ablate ...``). Nothing heavy is
imported here.
"""
