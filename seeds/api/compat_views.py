"""The seeds' documented endpoints, as thin adapters over the same services.

Seed 000 (pomodoro counters) uses the ``pomodoro`` board; seeds 002 and 003
(total game score) the ``score`` board; seed 004 (high scores) the
``high-score`` board. Submits, ranks and caching are the core's: these views
only translate payloads. Who may write for whom follows the core rule: the
user themselves, or a trusted server (staff or ``submit_for_others``).
"""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.selectors import user_get_by_public_id
from accounts.services import user_register
from leaderboard import health, selectors, services, warming
from leaderboard.api.permissions import SubmitPermission, named_in_body
from leaderboard.api.throttles import LoginFailureThrottle, RegisterRateThrottle, SubmitRateThrottle, login_failed
from leaderboard.api.validation import validated
from leaderboard.models import Board
from leaderboard.rollover import period_reset
from leaderboard.store import connection as store_connection
from leaderboard.store import keys as store_keys
from leaderboard.sync import sync_enqueue
from leaderboard_project.exceptions import InvalidInput, NotFound, ServiceError
from leaderboard_project.negotiation import CheckedFormParser, CheckedMultiPartParser, FastJSONParser
from reports.selectors import top_players

from . import compat_serializers as s

POMO_PERIODS = ("daily", "weekly", "monthly", "yearly")


class CompatSubmitView(APIView):
    """A submit surface: the core's permission rule, rate limits and dual write."""

    permission_classes = [SubmitPermission]
    throttle_classes = [SubmitRateThrottle]
    board_slug = ""
    # Whether the seed's body names the user (seeds 000 and 003) or books to the caller (002, 004).
    names_user = False

    def get_board(self) -> Board:
        return services.board_get(slug=self.board_slug)

    def named_user(self, request: Request) -> object:
        return named_in_body(request) if self.names_user else None

    def submit(
        self, request: Request, *, named: str | None, value: int, field: str, ranks: tuple[str, ...] = ()
    ) -> services.SubmitResult:
        """Submit for the user the body names (None: the caller); a bad value is reported under ``field``.

        ``ranks``: the periods whose new rank the seed's answer carries (none unless it says so:
        each costs Redis a count).
        """
        try:
            return services.score_submit_as(
                board=self.get_board(),
                caller=request.user,
                named=named,
                value=value,
                idempotency_key=request.headers.get("Idempotency-Key"),
                ranks=ranks,
            )
        except InvalidInput as exc:
            if "value" in exc.fields:
                exc.fields[field] = exc.fields.pop("value")
            raise


# --------------------------------------------------------------------------- seed 000: pomodoro


def pomo_fields(stats: selectors.UserStats) -> dict[str, int]:
    return {f"{period}_pomo": stats.scores.get(period, 0) for period in POMO_PERIODS}


class PomoUpdateView(CompatSubmitView):
    board_slug = "pomodoro"
    names_user = True

    @extend_schema(
        request=s.PomoUpdateRequest,
        responses=s.PomoUpdateResponse,
        tags=["seed 000: pomodoro"],
        summary="Add pomodoros to a user (all periods at once)",
    )
    def post(self, request: Request) -> Response:
        data = validated(s.PomoUpdateRequest, request.data)
        result = self.submit(request, named=data["user_id"], value=data["count"], field="count")
        stats = selectors.user_stats(board=result.board, user_id=result.user_id)
        return Response(
            {"success": True, "user_id": result.user_id, **pomo_fields(stats), "updated_at": stats.updated_at}
        )


class PomoLeaderboardView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        parameters=[s.PomoLimitQuery],
        responses=s.PomoLeaderboardResponse,
        tags=["seed 000: pomodoro"],
        summary="Sorted pomodoro leaderboard of a period",
    )
    def get(self, request: Request, period: str) -> Response:
        board = services.board_get(slug="pomodoro")
        period = pomo_period(board, period)
        limit = validated(s.PomoLimitQuery, request.query_params)["limit"]
        page = selectors.leaderboard_page(board=board, period=period, limit=limit)
        users = [e.user_id for e in page.entries]
        others = (
            {
                other: {
                    e.user_id: e.score
                    for e in selectors.leaderboard_members(board=board, period=other, user_ids=users).entries
                }
                for other in POMO_PERIODS
            }
            if users
            else {}
        )
        entries = [
            {
                "user_id": e.user_id,
                "score": e.score,
                "rank": e.rank,
                **{f"{p}_pomo": others[p].get(e.user_id, 0) for p in POMO_PERIODS},
            }
            for e in page.entries
        ]
        return Response(
            {
                "success": True,
                "period": period,
                "total_entries": len(entries),
                "cached": page.cached,
                "entries": entries,
            }
        )


def pomo_period(board: Board, period: str) -> str:
    if period not in POMO_PERIODS:
        raise NotFound(f"Unknown period {period!r}; use one of {', '.join(POMO_PERIODS)}.")
    return services.period_check(board=board, period=period)


class PomoUserStatsView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses=s.UserStatsResponse, tags=["seed 000: pomodoro"], summary="A user's pomodoro statistics")
    def get(self, request: Request, user_id: str) -> Response:
        user_get_by_public_id(user_id=user_id)
        stats = selectors.user_stats(board=services.board_get(slug="pomodoro"), user_id=user_id)
        return Response(
            {"user_id": user_id, **pomo_fields(stats), "updated_at": stats.updated_at, "cached_at": stats.cached_at}
        )


class PomoUserRankView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses=s.UserRankResponse, tags=["seed 000: pomodoro"], summary="A user's rank in a period")
    def get(self, request: Request, user_id: str, period: str) -> Response:
        board = services.board_get(slug="pomodoro")
        info = selectors.user_rank(board=board, period=pomo_period(board, period), user_id=user_id)
        return Response(
            {
                "user_id": user_id,
                "period": info.bucket.period,
                "rank": info.rank,
                "score": info.score or 0,
                "total_users": info.total,
            }
        )


class PomoAdminSyncView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        request=None,
        responses={202: s.AdminSyncResponse},
        tags=["seed 000: pomodoro admin"],
        summary="Repair the cache from PostgreSQL (queues a reconciliation)",
    )
    def post(self, request: Request) -> Response:
        run = sync_enqueue(dry_run=False, trigger="seed000-admin")
        return Response(
            {
                "success": True,
                "run_id": run.pk,
                "status": run.status,
                "message": "Reconciliation queued: Redis is repaired from PostgreSQL.",
            },
            status=status.HTTP_202_ACCEPTED,
        )


class PomoAdminResetView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        request=None,
        responses=s.AdminResetResponse,
        tags=["seed 000: pomodoro admin"],
        summary="Archive the current period and restart it at zero",
    )
    def post(self, request: Request, period: str) -> Response:
        board = services.board_get(slug="pomodoro")
        archive = period_reset(board=board, period=pomo_period(board, period), triggered_by=request.user.username)
        return Response(
            {
                "success": True,
                "period": archive.period,
                "archive_id": archive.pk,
                "archived_participants": archive.participants,
                "reset_at": archive.bucket_end,
            }
        )


class PomoAdminStatusView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(responses=s.AdminStatusResponse, tags=["seed 000: pomodoro admin"], summary="Cache health")
    def get(self, request: Request) -> Response:
        redis, database = health.redis(), health.database()
        postgres: dict[str, object] = {"connected": True}
        if not database.ok:
            postgres = {"connected": False, "error": str(database.error)[:200]}
        board = services.board_get(slug="pomodoro")
        leaderboards = {row["period"]: row for row in selectors.board_drift(board=board)}
        return Response(
            {
                "success": True,
                "redis": redis_details() if redis.ok else {"connected": False, "error": str(redis.error)},
                "postgres": postgres,
                "leaderboards": leaderboards,
            }
        )


def redis_details() -> dict[str, object]:
    """Seed 000's description of a Redis that answers: version, memory, keys, hit rate."""
    info = store_connection.server_info()
    hits, misses = int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
    return {
        "connected": True,
        "version": info.get("redis_version") or info.get("valkey_version"),
        "used_memory": info.get("used_memory"),
        "used_memory_human": info.get("used_memory_human"),
        "keys": store_connection.keys_count(store_keys.all_pattern()),
        "hit_rate": round(hits / (hits + misses), 4) if hits + misses else None,
    }


class PomoAdminCacheView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        responses=s.AdminCacheResponse,
        tags=["seed 000: pomodoro admin"],
        summary="Clear every leaderboard key (reads rewarm from PostgreSQL)",
    )
    def delete(self, request: Request) -> Response:
        return Response({"success": True, "deleted_keys": warming.cache_clear()})


# --------------------------------------------------------------------------- seed 002: real-time scores


class ScoreIncrementView(CompatSubmitView):
    board_slug = "score"

    @extend_schema(
        request=s.IncrementRequest,
        responses=s.IncrementResponse,
        tags=["seed 002: real-time"],
        summary="Increment the authenticated user's score",
    )
    def post(self, request: Request) -> Response:
        data = validated(s.IncrementRequest, request.data)
        result = self.submit(request, named=None, value=data["points"], field="points")
        return Response({"success": True, "newScore": result.scores["all_time"]})


# --------------------------------------------------------------------------- seed 003: gaming leaderboard


class GameSubmitView(CompatSubmitView):
    board_slug = "score"
    names_user = True

    @extend_schema(
        request=s.GameSubmitRequest,
        responses=s.GameSubmitResponse,
        tags=["seed 003: gaming"],
        summary="Record a game session and add its score",
    )
    def post(self, request: Request) -> Response:
        data = validated(s.GameSubmitRequest, request.data)
        result = self.submit(request, named=data["user_id"], value=data["score"], field="score", ranks=("all_time",))
        return Response(
            {
                "success": True,
                "session_id": result.event_id,
                "user_id": result.user_id,
                "score": data["score"],
                "total_score": result.scores["all_time"],
                "rank": result.ranks.get("all_time"),
            }
        )


class GameTopView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses=s.GameTopResponse, tags=["seed 003: gaming"], summary="Top 10 players")
    def get(self, request: Request) -> Response:
        page = selectors.leaderboard_page(board=services.board_get(slug="score"), period="all_time", limit=10)
        return Response(
            {
                "cached": page.cached,
                "leaderboard": [{"rank": e.rank, "user_id": e.user_id, "total_score": e.score} for e in page.entries],
            }
        )


class GameRankView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses=s.GameRankResponse, tags=["seed 003: gaming"], summary="A player's rank")
    def get(self, request: Request, user_id: str) -> Response:
        info = selectors.user_rank(board=services.board_get(slug="score"), period="all_time", user_id=user_id)
        if info.rank is None:
            raise NotFound(f"User {user_id!r} has no score yet.")
        return Response({"user_id": user_id, "rank": info.rank, "total_score": info.score, "total_players": info.total})


# --------------------------------------------------------------------------- seed 004: clean-architecture service


class V1RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [RegisterRateThrottle]

    @extend_schema(
        request=s.V1Credentials, responses={201: s.V1RegisterResponse}, tags=["seed 004"], summary="Create an account"
    )
    def post(self, request: Request) -> Response:
        data = validated(s.V1Credentials, request.data)
        user = user_register(username=data["username"], password=data["password"])
        return Response({"id": user.pk, "username": user.username}, status=status.HTTP_201_CREATED)


class V1TokenView(APIView):
    """The OAuth2 password flow: form-encoded (or JSON) username and password."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    parser_classes = [CheckedFormParser, CheckedMultiPartParser, FastJSONParser]
    throttle_classes = [LoginFailureThrottle]

    @extend_schema(
        request=s.V1Credentials, responses=s.V1TokenResponse, tags=["seed 004"], summary="Obtain an access token"
    )
    def post(self, request: Request) -> Response:
        data = validated(s.V1Credentials, request.data)
        user = authenticate(request, username=data["username"], password=data["password"])
        if user is None or not user.is_active:
            login_failed(request)
            raise InvalidCredentials()
        return Response({"access_token": str(RefreshToken.for_user(user).access_token), "token_type": "bearer"})


class InvalidCredentials(ServiceError):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_message = "Incorrect username or password."


class V1ScoreSubmitView(CompatSubmitView):
    board_slug = "high-score"

    @extend_schema(
        request=s.V1ScoreRequest,
        responses=s.V1ScoreResponse,
        tags=["seed 004"],
        summary="Submit a score (the highest is kept)",
    )
    def post(self, request: Request) -> Response:
        data = validated(s.V1ScoreRequest, request.data)
        result = self.submit(request, named=None, value=data["score"], field="score", ranks=("all_time",))
        return Response(
            {
                "username": result.user_id,
                "score": data["score"],
                "high_score": result.scores["all_time"],
                "rank": result.ranks.get("all_time"),
            }
        )


class V1GlobalLeaderboardView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        parameters=[s.V1PageQuery], responses=s.V1GlobalResponse, tags=["seed 004"], summary="Top players, paginated"
    )
    def get(self, request: Request) -> Response:
        params = validated(s.V1PageQuery, request.query_params)
        offset = (params["page"] - 1) * params["size"]
        page = selectors.leaderboard_page(
            board=services.board_get(slug="high-score"), period="all_time", limit=params["size"], offset=offset
        )
        return Response(
            {
                "page": params["page"],
                "size": params["size"],
                "total": page.total,
                "cached": page.cached,
                "items": [{"rank": e.rank, "username": e.user_id, "score": e.score} for e in page.entries],
            }
        )


class V1MyRankView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.V1RankResponse, tags=["seed 004"], summary="The logged-in user's rank")
    def get(self, request: Request) -> Response:
        info = selectors.user_rank(
            board=services.board_get(slug="high-score"), period="all_time", user_id=request.user.get_username()
        )
        return Response({"username": info.user_id, "rank": info.rank, "score": info.score, "total": info.total})


class V1TopPlayersReportView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[s.V1ReportQuery],
        responses=s.V1ReportResponse,
        tags=["seed 004"],
        summary="Top players by highest score between two dates",
    )
    def get(self, request: Request) -> Response:
        params = validated(s.V1ReportQuery, request.query_params)
        report = top_players(
            board=services.board_get(slug="high-score"),
            start_date=params["start_date"],
            end_date=params["end_date"],
            limit=params["limit"],
        )
        return Response(
            {
                "start_date": params["start_date"],
                "end_date": params["end_date"],
                "players": [
                    {
                        "rank": e["rank"],
                        "username": e["user_id"],
                        "high_score": e["score"],
                        "submissions": e["submissions"],
                    }
                    for e in report.entries
                ],
            }
        )
