"""Command-line entry points: each parses flags, calls one library function, and turns bad
input into one clear line and a non-zero exit. Run them as `tools/<name>` (a launcher that
uses the project's .venv) or `python -m tools.<name>`.

Importing the package sets TensorFlow's start-up variables first (core/cpu.py: quiet logs,
oneDNN on AVX2 CPUs), before any tool imports TensorFlow."""
from core import cpu as _cpu

_cpu.tf_environment()
