"""Development tools, never installed in production.

* A Django app: the benchmark commands (``benchmark``, ``benchmark_ws``,
  ``benchmark_reconcile``, ``benchmark_reports``), ``seed_demo`` and its bulk
  data (``devtools.demo``), and ``/_bench/bare``, the engine benchmark's ceiling.
  It is in ``INSTALLED_APPS`` only through ``leaderboard_project.settings_dev``
  (which ``./manage``, ``make run`` and ``make bench*`` use) and the test settings;
  ``leaderboard_project.settings`` and the Docker image never import it.
* ``devtools.stack``: the local process supervisor behind ``make run`` and
  ``make test``, with embedded PostgreSQL and Valkey. It does not import Django,
  and neither does this package's ``__init__``: the stack runs before settings exist.
"""
