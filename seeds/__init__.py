"""The seeds' surfaces, as thin adapters over the leaderboard core.

Each earlier service this one replaces ("seed") keeps its documented interface
here, translated onto the core's services and selectors and nothing more:

* seeds 000, 002, 003 and 004: their REST endpoints (``api/compat_*``);
* seed 001: the reconciliation management API under ``api/periodic-sync/``
  (``api/sync_*``) and the ``periodic_sync`` command;
* seed 002: its WebSocket, ``ws/leaderboard`` (``consumers.Seed002Consumer``).

The core (``leaderboard``) never imports this app.
"""
