"""Shared plumbing for every algorithm: data, config, runs, images, runtime, evaluation maths.

`core` knows no algorithm and imports nothing from `models/`, `trainers/`, `export/` or `tools/`.
"""
