"""Factories for every model of the project, in one place (test_layout checks that none is missing)."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import ServiceKey
from leaderboard.models import (
    Board,
    BucketRepair,
    ModerationAction,
    PeriodArchive,
    ReconciliationRun,
    ScoreEvent,
    Standing,
    SubmissionCount,
)
from leagues.models import League, LeagueMember, LeagueSettings
from rewards.models import WebhookDelivery, WebhookEndpoint


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


# --------------------------------------------------------------------------- the other models, one factory each


class StandingFactory(factory.django.DjangoModelFactory):
    """A standing in the board's live bucket of ``period`` (written directly: no event, no Redis)."""

    class Meta:
        model = Standing

    class Params:
        at = factory.LazyFunction(timezone.now)

    board = factory.SubFactory(BoardFactory)
    user = factory.SubFactory(UserFactory)
    period = "all_time"
    bucket_start = factory.LazyAttribute(lambda o: o.board.bucket(o.period, o.at).start)
    score = 0
    created_at = factory.LazyAttribute(lambda o: o.at)
    updated_at = factory.LazyAttribute(lambda o: o.at)


class ScoreEventFactory(factory.django.DjangoModelFactory):
    """A recorded submission (written directly: no standing, no Redis; use services.score_submit for those)."""

    class Meta:
        model = ScoreEvent

    board = factory.SubFactory(BoardFactory)
    user = factory.SubFactory(UserFactory)
    value = 1
    created_at = factory.LazyFunction(timezone.now)


class PeriodArchiveFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PeriodArchive

    board = factory.SubFactory(BoardFactory)
    period = "daily"
    bucket_start = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    bucket_end = factory.LazyAttribute(lambda o: o.bucket_start + timedelta(days=1))


class BucketRepairFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BucketRepair

    board = factory.SubFactory(BoardFactory)
    period = "all_time"
    bucket_start = factory.LazyAttribute(lambda o: o.board.bucket(o.period, timezone.now()).start)
    reason = "test"


class ReconciliationRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReconciliationRun

    trigger = "test"


class ModerationActionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModerationAction

    action = ModerationAction.Action.REMOVE
    target = factory.Sequence(lambda n: f"player{n:05d}")
    actor = "staff"


class ServiceKeyFactory(factory.django.DjangoModelFactory):
    """A service key; its secret is not kept (``ServiceKey.objects.create_key`` returns it, for tests that call)."""

    class Meta:
        model = ServiceKey

    name = factory.Sequence(lambda n: f"game-server-{n}")
    rights = factory.LazyFunction(lambda: [ServiceKey.Right.SUBMIT])


class WebhookEndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookEndpoint

    board = factory.SubFactory(BoardFactory)
    url = "http://127.0.0.1:9/hook"


class WebhookDeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookDelivery

    endpoint = factory.SubFactory(WebhookEndpointFactory)
    archive = factory.SubFactory(PeriodArchiveFactory, board=factory.SelfAttribute("..endpoint.board"))
    bucket_label = "2026-11-29"


class SubmissionCountFactory(factory.django.DjangoModelFactory):
    """A player's submission count in the board's live bucket of ``period`` (written directly, as the submit does)."""

    class Meta:
        model = SubmissionCount

    class Params:
        at = factory.LazyFunction(timezone.now)

    board = factory.SubFactory(BoardFactory, submission_cap=5)
    user = factory.SubFactory(UserFactory)
    period = "daily"
    bucket_start = factory.LazyAttribute(lambda o: o.board.bucket(o.period, o.at).start)
    count = 1


class LeagueSettingsFactory(factory.django.DjangoModelFactory):
    """Leagues of 30 on the board's weekly period (the board keeps it by default), a sixth of each moving up
    and a sixth down."""

    class Meta:
        model = LeagueSettings

    board = factory.SubFactory(BoardFactory)
    period = "weekly"
    size = 30
    promote = factory.LazyAttribute(lambda o: o.size // 6)
    demote = factory.LazyAttribute(lambda o: o.size // 6)


class LeagueFactory(factory.django.DjangoModelFactory):
    """A league of the board's current weekly bucket (written directly: no members, no Redis)."""

    class Meta:
        model = League

    board = factory.SubFactory(BoardFactory)
    period = "weekly"
    bucket_start = factory.LazyAttribute(lambda o: o.board.bucket(o.period, timezone.now()).start)
    level = 0
    number = factory.Sequence(lambda n: n + 1)
    capacity = 30


class LeagueMemberFactory(factory.django.DjangoModelFactory):
    """A member of a league (its count is not updated: use leagues.services.league_join for that)."""

    class Meta:
        model = LeagueMember

    league = factory.SubFactory(LeagueFactory)
    board = factory.SelfAttribute("league.board")
    period = factory.SelfAttribute("league.period")
    bucket_start = factory.SelfAttribute("league.bucket_start")
    user_id = factory.Sequence(lambda n: f"player{n:05d}")
