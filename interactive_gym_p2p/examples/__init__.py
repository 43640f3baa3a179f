"""Runnable example experiments: ``python -m interactive_gym_p2p.examples.<name>``."""
