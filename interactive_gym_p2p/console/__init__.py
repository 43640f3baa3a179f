"""The live research console: telemetry from every player's client, aggregated in memory,
pushed to researchers over an authenticated Socket.IO namespace, with actions (end a game,
close recruitment) and per-game timelines. See docs/console.md.

Modules: ``report`` (the client's telemetry report), ``timeline`` (bounded per-player
series), ``store`` (ConsoleStore and the in-memory store), ``service`` (Console: the
aggregation and the actions), ``namespace`` (the ``/p2p-console`` feed), ``routes`` (HTTP API).
Nothing is imported here, so importing the package has no cost and no side effects.
"""
