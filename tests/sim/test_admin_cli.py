"""The admin HTTP API under /_sim/, its live feed, and the `troupe sim` command."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import aiohttp
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError


def admin(ws, path: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(ws.admin_url + path, data=data, method="POST" if data else "GET")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def test_admin_endpoints(ws, client):
    assert admin(ws, "info")["channel"]["id"] == ws.channel_id
    ts = admin(ws, "post", {"text": "via admin"})["result"]
    client.pins_add(channel=ws.channel_id, timestamp=ts)
    client.reactions_add(channel=ws.channel_id, timestamp=ts, name="eyes")
    assert admin(ws, "messages")[0]["ts"] == ts
    assert admin(ws, "pins")[0]["message"]["ts"] == ts
    assert admin(ws, f"reactions?ts={ts}")[0]["name"] == "eyes"
    assert admin(ws, "counts")["pi-1"]["pins.add"] == 1
    apps = admin(ws, "apps")
    assert [a["name"] for a in apps] == ["pi-1", "pi-2", "pi-3"]
    assert apps[0]["connections"] == 0
    admin(ws, "fail_method", {"method": "auth.test", "mode": "error", "error": "fatal_error"})
    try:
        WebClient(token=ws.user["token"], base_url=ws.api_url).auth_test()
    except SlackApiError as err:
        assert err.response["error"] == "fatal_error"
    else:
        raise AssertionError("fail_method via admin did not apply")
    admin(ws, "cut_off", {"app": "pi-2"})
    assert [a["cut_off"] for a in admin(ws, "apps")] == [False, True, False]
    admin(ws, "restore", {"app": "pi-2"})
    admin(ws, "latency", {"ms": 0})
    admin(ws, "event_delay", {"ms": 0})
    admin(ws, "duplicate_events", {"enabled": False})
    assert admin(ws, "users", {"name": "bob"})["result"]["name"] == "bob"
    assert admin(ws, "close_connections", {"app": "pi-1"})["result"] == 0
    log = admin(ws, "log")
    assert log["calls"] and "deliveries" in log
    try:
        admin(ws, "cut_off", {"app": "nobody"})
    except urllib.error.HTTPError as err:
        assert err.code == 400
    else:
        raise AssertionError("unknown app accepted")


def test_live_feed(ws, client):
    async def scenario() -> list[dict]:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(ws.admin_url + "events") as feed:
                loop = asyncio.get_running_loop()
                ts = await loop.run_in_executor(None, ws.post, "watch me")
                await loop.run_in_executor(
                    None, lambda: client.pins_add(channel=ws.channel_id, timestamp=ts)
                )
                got = []
                while len(got) < 2:
                    got.append(json.loads((await feed.receive(timeout=5)).data))
                return got

    kinds = [item["type"] for item in asyncio.run(scenario())]
    assert kinds == ["message_posted", "pin_added"]


def test_troupe_sim_command_prints_json_and_stops_on_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "troupe.sim.cli", "--apps", "3", "--rate-limits", "off"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        info = json.loads(proc.stdout.readline())
        assert [a["name"] for a in info["apps"]] == ["pi-1", "pi-2", "pi-3"]
        assert info["api_url"].startswith("http://127.0.0.1:")
        assert info["user"]["token"].startswith("xoxp-")
        assert info["apps"][0]["bot_token"].startswith("xoxb-")
        assert info["apps"][0]["app_token"].startswith("xapp-")
        web = WebClient(token=info["apps"][0]["bot_token"], base_url=info["api_url"])
        assert web.auth_test()["team_id"] == info["team_id"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
