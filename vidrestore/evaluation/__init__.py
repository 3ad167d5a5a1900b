"""Evaluation harness: restore degraded clips with our model and peers, measure fidelity and temporal stability.

Modules: :mod:`~vidrestore.evaluation.data` (clean clips, degradations),
:mod:`~vidrestore.evaluation.peers` (methods), :mod:`~vidrestore.evaluation.metrics`,
:mod:`~vidrestore.evaluation.tuning`, :mod:`~vidrestore.evaluation.harness`,
:mod:`~vidrestore.evaluation.report`, :mod:`~vidrestore.evaluation.bench`
(throughput), :mod:`~vidrestore.evaluation.profiling`.
"""
