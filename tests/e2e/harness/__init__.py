"""Real-Chromium test harness: static HTTP server, coturn, network namespace, Chromium launch,
and a signaling relay between pages. Each module does one of these; conftest.py wires them
into pytest fixtures."""
