"""Command-line entry points: each parses flags, calls one library function, and turns bad
input into one clear line and a non-zero exit. Run them as `tools/<name>` (a launcher that
uses the project's .venv) or `python -m tools.<name>`."""
