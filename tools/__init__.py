"""Maintainer tools: convert and fit the shipped data, and benchmark hwdiff. Not part of the wheel.

Run from the repository root as ``python -m tools.NAME`` (see docs/data.md and each module's docstring):

- ``convert_nb201_accuracies``: NATS-Bench CSVs -> ``hwdiff/data/tables/nb201.npz``
- ``convert_help_latencies``: HELP's NB201 latency lists -> ``profiles/*-nb201-table.json``
- ``train_effnet_predictor``: the shipped effnet accuracy predictor (``hwdiff/data/tables/effnet_predictor.*``)
- ``fit_effnet_latency_models``: the shipped ``profiles/*-effnet-model.json``
- ``bench_deploy``: ONNX / finetune / GPU figures of docs/performance.md ("Deploy")
- ``bench_threads``: ``hwdiff train`` alone and beside a CPU-bound process (the thread policy)
- ``bench_startup``: wall time of the light commands beside ``python -c "import typer"``
"""
