"""The reproduction tables of tools/reproduce.py: one module per table (`table() -> records`)
and runner.py, what they share."""
