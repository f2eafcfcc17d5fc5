"""Each Pi paces its Web API calls by method (troupe.pacing), oldest command first (issue 18)."""

from __future__ import annotations

import threading
import time

from slackmq import SlackMQ
from troupe.config import parse_config
from troupe.pacing import CLAIM_HOLD, Pacer, serving
from troupe.sim.slack import SlackWorkspace
from troupe.slack_web import make_web_client
from troupe.testing import wait_for

SECRET = {"TROUPE_FEDERATION_SECRET": "a-secret-every-pi-of-the-house-shares"}


def config_for(ws: SlackWorkspace, app: int = 0):
    config, problems = parse_config({"slack": {
        "bot_token": ws.apps[app]["bot_token"], "app_token": ws.apps[app]["app_token"],
        "channel": "general", "api_url": ws.api_url}}, env=SECRET)
    assert not problems
    return config


def limited(ws: SlackWorkspace) -> list[str]:
    return [c["method"] for c in ws.log()["calls"] if c["result"] == "429"]


def test_a_burst_of_answers_and_claims_is_paced_below_slacks_limits(tmp_path):
    """Slack's real limits: 8 answers (about one a second, bursts of 4), 4 claims and 24
    pins.list (Tier 2: 20 a minute), half from the bot's client and half from the
    lock's: every call goes through, none meets a 429 (the two share the app's budget)."""
    with SlackWorkspace(apps=1, rate_limits="real") as ws:
        config = config_for(ws)
        web, lock = make_web_client(config), make_web_client(config, retries=False)
        assert web.pacer is lock.pacer  # one budget per app
        channel = ws.channel_id
        for n in range(8):
            web.chat_postMessage(channel=channel, text=f"answer {n}")
        mq = SlackMQ(client=lock, channel=channel, lease=30)
        claims = [mq.claim(ws.post(f"count {n}")) for n in range(4)]
        assert [c.status for c in claims] == ["won"] * 4
        for claim in claims:  # a marker and an unpin each: the claims in hand are done
            claim.done()
        for _ in range(12):  # pins.list (Tier 2) from both clients: one budget of 20
            web.pins_list(channel=channel)
            lock.pins_list(channel=channel)
        assert limited(ws) == []
        assert web.pacer.limited == 0 and web.pacer.waited > 0  # it waited, Slack never said no


def test_unpaced_the_same_burst_meets_429s(tmp_path):
    """The test above can fail: the same answers without pacing find the limit by 429s."""
    from slack_sdk import WebClient
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    with SlackWorkspace(apps=1, rate_limits="real") as ws:
        web = WebClient(token=ws.apps[0]["bot_token"], base_url=ws.api_url,
                        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=10)])
        for n in range(8):
            web.chat_postMessage(channel=ws.channel_id, text=f"answer {n}")
        assert "chat.postMessage" in limited(ws)


def test_retry_after_holds_the_method_and_tightens_it():
    pacer = Pacer()
    pacer.acquire("pins.add")
    before = pacer._buckets["pins.add"].rate
    pacer.limited_by_slack("pins.add", 30)
    bucket = pacer._buckets["pins.add"]
    assert bucket.rate < before and bucket.tokens <= 0
    assert bucket.wait_for(bucket.stamp) > 29  # nothing goes out before Retry-After
    assert pacer._bucket("reactions.add", bucket.stamp).wait_for(bucket.stamp) == 0  # per method


def test_waiting_calls_go_out_oldest_command_first():
    """One token a second: of the calls waiting for it, the one serving the oldest command
    goes first, whatever the order they began to wait in."""
    pacer = Pacer(tiers={"3": (60, 1)}, methods={}, margin=1.0)
    pacer.acquire("reactions.add")  # the only token: the next comes in a second
    order: list[str] = []

    def call(ts: str) -> None:
        with serving(ts):
            pacer.acquire("reactions.add")
        order.append(ts)

    threads = []
    for ts in ("1700000300.000000", "1700000200.000000", "1700000100.000000"):
        threads.append(threading.Thread(target=call, args=(ts,)))
        threads[-1].start()
        wait_for(lambda: len(pacer._waiting.get("reactions.add", [])) == len(threads), 5,
                 "the call to wait")
    for thread in threads:
        thread.join(10)
    assert order == ["1700000100.000000", "1700000200.000000", "1700000300.000000"]


def test_an_endpoint_without_limits_is_not_paced_and_a_429_there_is_only_a_pause():
    """`[slack] rate_limits = "none"` (an emulator with its limits off): calls go at once;
    a 429 holds that method for its Retry-After, then calls go at once again (no tiers)."""
    pacer = Pacer(seeded=False)
    assert sum(pacer.acquire("pins.list") for _ in range(100)) < 0.5  # Tier 2: 20 a minute
    pacer.limited_by_slack("pins.list", 0.3)
    assert pacer.acquire("pins.list") > 0.1  # Retry-After held it
    assert sum(pacer.acquire("pins.list") for _ in range(100)) < 0.5  # then no pace
    assert pacer.acquire("pins.add") < 0.1  # and the other methods were never held


def test_slack_tiers_tighten_after_a_429():
    """Seeded with Slack's tiers, a 429 despite the pacing slows that method down."""
    pacer = Pacer()
    before = pacer._bucket("pins.list", 0.0).rate
    pacer.limited_by_slack("pins.list", 0.05)
    assert pacer._buckets["pins.list"].rate < before


def test_rate_limits_is_checked_by_key():
    def problems(value):
        return [(p.key, p.expected) for p in parse_config(
            {"slack": {"bot_token": "xoxb-1", "app_token": "xapp-1", "channel": "home",
                       "rate_limits": value}}, env=SECRET)[1]]

    assert problems("none") == [] and problems("slack") == []
    [(key, expected)] = problems("off")
    assert key == "slack.rate_limits" and '"none"' in expected


def test_a_reserved_claim_leaves_the_queue_unspent_once_it_is_no_longer_wanted():
    """Issue 18: a claim waiting for its pins.add token whose command another Pi pinned
    meanwhile (or that expired) leaves without spending the call; a reserved token is the
    thread's next pins.add, sent without waiting again, and given back if never spent."""
    pacer = Pacer(tiers={"2": (60, 1), "3": (6000, 100), "post": (6000, 100)},
                  methods={"pins.add": "2", "chat.postMessage": "post"}, margin=1.0)
    pacer.acquire("pins.add")  # the only token: the next comes in a second
    wanted = threading.Event()
    wanted.set()
    result: list[bool] = []
    waiter = threading.Thread(target=lambda: result.append(
        pacer.reserve("pins.add", wanted.is_set, "1700000100.000000")))
    waiter.start()
    wait_for(lambda: pacer._waiting.get("pins.add"), 5, "the claim to wait for its token")
    wanted.clear()  # another Pi's pin_added came
    waiter.join(5)
    assert result == [False]
    assert pacer._buckets["pins.add"].tokens > -0.5  # the token was not taken
    assert pacer.reserve("pins.add", lambda: True)  # waits for the next token
    tokens = pacer._buckets["pins.add"].tokens
    assert pacer.acquire("pins.add") == 0.0  # the reserved one: no second wait, no token
    assert pacer._buckets["pins.add"].tokens == tokens
    assert pacer.reserve("pins.add", lambda: True)
    in_hand = pacer.in_hand
    pacer.unreserve()  # never spent: back in the bucket
    assert pacer.in_hand == in_hand - 1 and pacer._buckets["pins.add"].tokens > tokens


def test_claims_in_hand_never_outgrow_what_their_heartbeats_can_post():
    """A claim held past lease / 3 posts a heartbeat every lease / 3. However long a claim
    has waited, it is not made while the claims in hand would need more than half the
    posting budget for heartbeats (chaos --real: a Pi that let claims through after a
    minute's wait held dozens, their heartbeats took every post, answers waited minutes).
    Answers waiting hold a claim back only CLAIM_HOLD."""
    pacer = Pacer(lease=30.0)  # chat.postMessage ~0.95 a second: 4 claims in hand at most
    for _ in range(4):
        pacer.acquire("pins.add")
    now = time.monotonic()
    assert pacer.in_hand == 4
    assert pacer._busy(now, waited=CLAIM_HOLD * 10)
    pacer.released()
    assert not pacer._busy(now, waited=CLAIM_HOLD + 1)  # room for one more, however late
    pacer._waiting["chat.postMessage"] = [(1.0, 0)]  # an answer waiting for its token
    assert pacer._busy(now, waited=1.0)  # answers first...
    assert not pacer._busy(now, waited=CLAIM_HOLD + 1)  # ... for a while


def test_a_claim_counted_in_hand_for_two_leases_is_forgotten():
    """The count of claims in hand can drift (a pin another Pi took over and removed never
    comes back as this Pi's pins.remove): it must not stop this Pi claiming for good."""
    pacer = Pacer(lease=0.1)
    pacer.acquire("pins.add")
    assert pacer.in_hand == 1
    wait_for(lambda: pacer.in_hand == 0, 5, "the old claim to be forgotten")


def test_a_method_slowed_by_a_429_regains_its_rate_after_quiet_minutes():
    """A 429 despite pacing slows its method (x0.8 each, down to a fifth); chaos's injected
    429s used to leave chat.postMessage at a fifth of its rate for good."""
    pacer = Pacer()
    for _ in range(10):
        pacer.limited_by_slack("chat.postMessage", 0.01)
    bucket = pacer._buckets["chat.postMessage"]
    assert bucket.rate == bucket.floor
    bucket.refill(bucket.stamp + 30)  # within a minute of the last 429: still slow
    assert bucket.rate == bucket.floor
    bucket.refill(bucket.stamp + 9 * 60)
    assert bucket.rate == bucket.base


def test_claims_go_out_own_first_oldest_first_then_step_ins_newest_first():
    """Every Pi's Tier-2 bucket refills at the same pace: with every Pi's claims queued
    oldest first, the Pis spent each token on the same command and two of three pins.add
    were lost (the burst bench). A Pi's own claims (first in line) go first, oldest first;
    those it steps in for come after, nearest place in line first, newest first."""
    pacer = Pacer(tiers={"2": (60, 1), "3": (6000, 100), "post": (6000, 100)},
                  methods={"pins.add": "2", "chat.postMessage": "post"}, margin=1.0)
    pacer.acquire("pins.add")  # the only token: the next comes in a second
    order: list[str] = []

    def claim(ts: str, place: int) -> None:
        assert pacer.reserve("pins.add", lambda: True, ts, place)
        order.append(f"{place}:{ts}")
        pacer.acquire("pins.add")  # the reserved one
        pacer.released()

    waiting = [("1700000300.000000", 1), ("1700000400.000000", 2), ("1700000200.000000", 0),
               ("1700000100.000000", 1), ("1700000500.000000", 0)]
    threads = []
    for ts, place in waiting:
        threads.append(threading.Thread(target=claim, args=(ts, place)))
        threads[-1].start()
        wait_for(lambda: len(pacer._waiting.get("pins.add", [])) == len(threads), 5,
                 "the claim to wait")
    for thread in threads:
        thread.join(15)
    assert order == ["0:1700000200.000000", "0:1700000500.000000", "1:1700000300.000000",
                     "1:1700000100.000000", "2:1700000400.000000"]
