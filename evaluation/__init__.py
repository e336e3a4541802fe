"""What judges a run's samples and completions: the scores' maths (scores.py), the project
classifier and InceptionV3 they use (scoring.py), the non-learned baselines (baselines.py),
a linear probe of learned features (probes.py), the report writers (reports.py) and the
reproduction tables' records (results.py).

Imports core/ and models/ only; knows no trainer (the trainers and tasks/ call it)."""
