#!/usr/bin/env python3
"""A seed-000 client (pomodoro app): the calls its document shows, end to end.

    python scripts/client_seed000.py [BASE_URL] --username OPS --password PASS

Submitting for ``user123`` needs a trusted token (staff or submit_for_others):
pass an operator's credentials (``make superuser``). Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request


def call(method: str, url: str, body: dict | None = None, token: str | None = None) -> tuple[int, object]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def show(label: str, status: int, payload: object) -> None:
    print(f"{label}: HTTP {status}")
    print("  " + json.dumps(payload, default=str)[:600])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("base", nargs="?", default="http://localhost:8000")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()
    base = args.base.rstrip("/")
    status, tokens = call("POST", f"{base}/api/v1/auth/token", {"username": args.username, "password": args.password})
    if status != 200:
        show("login failed", status, tokens)
        return 1
    token = tokens["access"]
    root = f"{base}/api/redis-leaderboard"
    show("update user123 (+1)", *call("POST", f"{root}/update", {"user_id": "user123", "count": 1}, token))
    show("update user456 (+3)", *call("POST", f"{root}/update", {"user_id": "user456", "count": 3}, token))
    show("daily leaderboard", *call("GET", f"{root}/daily?limit=20"))
    show("user123 stats", *call("GET", f"{root}/user/user123"))
    show("user123 weekly rank", *call("GET", f"{root}/user/user123/rank/weekly"))
    show("admin status", *call("GET", f"{root}/admin/status", token=token))
    show("admin sync", *call("POST", f"{root}/admin/sync", token=token))
    status, payload = call("GET", f"{root}/user/user123/rank/weekly")
    ok = status == 200 and isinstance(payload, dict) and payload.get("rank") is not None
    print("seed 000 client:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
