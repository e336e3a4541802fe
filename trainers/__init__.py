"""One trainer per algorithm (each module's `train(config, workdir, strategy) -> dict`), the
registry that declares them (trainers/registry.py), and what they share: base.py (the
skeleton), losses.py, nets.py and the Langevin kernel (langevin.py)."""
