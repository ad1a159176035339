"""The project's URLconf plus ``/_bench/bare``: the ROOT_URLCONF of ``settings_dev``.

The bare view comes last, as it did in the project's URLconf, so that the
benchmark's ceiling pays the same URL resolution as the API it is compared with.
"""

from django.urls import path

from leaderboard_project.urls import handler400, handler403, handler404, handler500
from leaderboard_project.urls import urlpatterns as project_urlpatterns

from . import views

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]

urlpatterns = [*project_urlpatterns, path("_bench/bare", views.bench_bare)]
