#!/usr/bin/env python3
"""A seed-004 client: register, OAuth2 token, submit scores, global board, my rank, report.

    python scripts/client_seed004.py [BASE_URL]

Standard library only; registers a fresh user each run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid


def call(method: str, url: str, body: dict | None = None, token: str | None = None, form: bool = False):
    data = None
    request = urllib.request.Request(url, method=method)
    if body is not None:
        if form:
            data = urllib.parse.urlencode(body).encode()
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        else:
            data = json.dumps(body).encode()
            request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, data=data, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def show(label: str, status: int, payload: object) -> None:
    print(f"{label}: HTTP {status}")
    print("  " + json.dumps(payload, default=str)[:600])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("base", nargs="?", default="http://localhost:8000")
    base = parser.parse_args().base.rstrip("/")
    creds = {"username": f"player_{uuid.uuid4().hex[:8]}", "password": "correct horse battery staple"}
    show("register", *call("POST", f"{base}/v1/auth/register", creds))
    status, token = call("POST", f"{base}/v1/auth/token", creds, form=True)
    show("token (OAuth2 form)", status, {**token, "access_token": "..."} if status == 200 else token)
    if status != 200:
        return 1
    access = token["access_token"]
    for score in (420, 990, 610):
        show(f"submit {score}", *call("POST", f"{base}/v1/scores/submit", {"score": score}, access))
    show("global leaderboard", *call("GET", f"{base}/v1/leaderboard/global?page=1&size=5"))
    status, rank = call("GET", f"{base}/v1/leaderboard/my_rank", token=access)
    show("my rank", status, rank)
    today = datetime.date.today().isoformat()
    show(
        "top players today",
        *call("GET", f"{base}/v1/reports/top_players?start_date={today}&end_date={today}", token=access),
    )
    ok = status == 200 and rank.get("score") == 990
    print("seed 004 client:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
