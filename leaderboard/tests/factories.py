"""Factories for every model the tests need (one place)."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from leaderboard.models import Board


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"player{n:05d}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class BoardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Board

    slug = factory.Sequence(lambda n: f"board-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())
    operator = Board.Operator.INCREMENT
    sort_order = Board.SortOrder.DESC
    periods = factory.LazyFunction(lambda: ["daily", "weekly", "monthly", "yearly", "all_time"])
    time_zone = "UTC"
    min_value = 0
    max_value = 1_000_000
