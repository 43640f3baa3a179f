"""``python -m interactive_gym_p2p.exports``: list, download, validate, compare and verify exports."""
