from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Benchmarks and demo data: installed by ``leaderboard_project.settings_dev`` only."""

    name = "devtools"
    verbose_name = "Development tools"
