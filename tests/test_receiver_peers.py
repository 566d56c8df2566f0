"""One client address cannot starve the others: per-peer limits, and calls that wait for nothing.

The attacker connects from 127.0.0.2 (Linux routes all of 127/8 to loopback, so it is another
peer on the same machine); good clients connect from 127.0.0.1. The first tests hold each of the
receiver's per-peer limits in process and check who is refused; the slow ones run the real
``otel-scoring serve`` and a stock OTLP exporter in processes of their own while the attacker
keeps the receiver as full as it lets it.
"""

from __future__ import annotations

import json
import select
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import grpc
import pytest
from support.delivery_support import ReceiverProcess, subprocess_env
from support.raw_grpc import SilentCalls
from support.stock_exporter import command as stock_exporter_command
from support.receiver_support import TIMEOUT_SECONDS, grpc_status, http_request, require_ipv6_loopback, scored_request

from otel_scoring.receiver import OTLPReceiver
from otel_scoring.receiver._peers import peer_of_address, peer_of_grpc
from otel_scoring.store import ScoreStore

ATTACKER = "127.0.0.2"
RESOURCE_EXHAUSTED = str(grpc.StatusCode.RESOURCE_EXHAUSTED.value[0])
DEADLINE_EXCEEDED = str(grpc.StatusCode.DEADLINE_EXCEEDED.value[0])


@pytest.fixture
def store(tmp_path) -> Iterator[ScoreStore]:
    with ScoreStore(tmp_path / "scores.db") as opened:
        yield opened


def from_attacker(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_SECONDS, source_address=(ATTACKER, 0))


def head(content_length: int) -> bytes:
    return f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: {content_length}\r\n\r\n".encode()


def answer_of(connection: socket.socket) -> Tuple[int, bytes]:
    """The status and raw bytes of the answer on ``connection``, read until the server closes it."""
    chunks = []
    while True:
        try:
            chunk = connection.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    answer = b"".join(chunks)
    return int(answer.split(b" ", 2)[1]), answer


def wait_until(predicate, what: str, timeout: float = TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


# --- Each per-peer limit, held by one address ------------------------------------------------------


def test_one_address_holding_half_the_slots_hears_429_while_another_is_served(store):
    """max_connections=4: two requests in progress from 127.0.0.2 are its share; its third is 429 with Retry-After, 127.0.0.1 is stored."""
    with OTLPReceiver(store, grpc_port=0, http_port=0, max_connections=4, shutdown_timeout_seconds=2.0) as receiver:
        held = [from_attacker(receiver.http_port) for _ in range(2)]
        try:
            for connection in held:
                connection.sendall(head(1000) + b"0123")  # a slot each, the body still arriving
            time.sleep(0.3)  # the server reads both heads
            with from_attacker(receiver.http_port) as third:
                third.sendall(head(1000) + b"x" * 1000)
                status, answer = answer_of(third)
            assert status == 429 and b"Retry-After: 1" in answer and b"this client" in answer
            assert http_request(receiver.http_port, scored_request("from-another-address").SerializeToString())[0] == 200
        finally:
            for connection in held:
                connection.close()
    assert [score.name for score in store.scores()] == ["from-another-address"]


def test_a_client_past_its_share_logs_once_naming_max_connections_per_peer(store, caplog):
    """max_connections=4, one per peer: 127.0.0.2 holding its one request hears 429 three times, and
    the log says once that it holds its share and that serve --max-connections-per-peer raises it."""
    caplog.set_level("WARNING", logger="otel_scoring.receiver")
    with OTLPReceiver(store, grpc_port=0, http_port=0, max_connections=4, max_connections_per_peer=1, shutdown_timeout_seconds=2.0) as receiver:
        with from_attacker(receiver.http_port) as held:
            held.sendall(head(1000) + b"0123")  # its slot, the body still arriving
            time.sleep(0.3)  # the server reads the head
            statuses = []
            for _ in range(3):
                with from_attacker(receiver.http_port) as refused:
                    refused.sendall(head(1000) + b"x" * 1000)
                    statuses.append(answer_of(refused)[0])
            assert statuses == [429, 429, 429]
    warnings = [record.getMessage() for record in caplog.records if "refused" in record.getMessage()]
    assert len(warnings) == 1, warnings  # three refusals, one warning
    assert "from 127.0.0.2 refused with 429" in warnings[0] and "that client holds its share of requests in progress (1)" in warnings[0]
    assert "raise max_connections_per_peer (serve --max-connections-per-peer" in warnings[0] and "slot" not in warnings[0]


def test_a_full_receiver_logs_once_naming_max_connections(store, caplog):
    """Both of max_connections=2 held by two addresses: a third address hears 503 three times and the
    log says once that 2 requests are in progress and that serve --max-connections raises it."""
    caplog.set_level("WARNING", logger="otel_scoring.receiver")
    with OTLPReceiver(store, grpc_port=0, http_port=0, max_connections=2, max_connections_per_peer=1, shutdown_timeout_seconds=2.0) as receiver:
        held = [from_attacker(receiver.http_port), socket.create_connection(("127.0.0.1", receiver.http_port), timeout=TIMEOUT_SECONDS)]
        try:
            for connection in held:
                connection.sendall(head(1000) + b"0123")
            time.sleep(0.3)
            statuses = []
            for _ in range(3):
                with socket.create_connection(("127.0.0.1", receiver.http_port), timeout=TIMEOUT_SECONDS, source_address=("127.0.0.3", 0)) as third:
                    third.sendall(head(1000) + b"x" * 1000)
                    statuses.append(answer_of(third)[0])
            assert statuses == [503, 503, 503]
        finally:
            for connection in held:
                connection.close()
    warnings = [record.getMessage() for record in caplog.records if "refused" in record.getMessage()]
    assert len(warnings) == 1, warnings
    assert "refused with 503" in warnings[0] and "the receiver holds all the requests in progress it allows (2;" in warnings[0]
    assert "raise max_connections (serve --max-connections)" in warnings[0] and "slot" not in warnings[0]


def test_a_request_without_the_token_hears_401_even_when_every_slot_is_taken(store):
    """max_connections=2, both slots held by authenticated bodies still arriving: a request without the token is answered 401, not 503; it needs no slot."""
    token = "s3cret-token"
    with OTLPReceiver(store, grpc_port=0, http_port=0, token=token, max_connections=2, max_connections_per_peer=2, shutdown_timeout_seconds=2.0) as receiver:
        authorized = head(1000).replace(b"\r\n\r\n", f"\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
        held = [socket.create_connection(("127.0.0.1", receiver.http_port), timeout=TIMEOUT_SECONDS) for _ in range(2)]
        try:
            for connection in held:
                connection.sendall(authorized + b"0123")  # a slot each, the body still arriving
            time.sleep(0.3)  # the server reads both heads
            with from_attacker(receiver.http_port) as unauthenticated:
                unauthenticated.sendall(head(1000) + b"x" * 1000)
                status, _ = answer_of(unauthenticated)
            assert status == 401
        finally:
            for connection in held:
                connection.close()
    assert store.scores() == []


def test_one_address_holding_its_share_of_the_memory_budget_hears_429_while_another_is_served(store):
    """Bodies from 127.0.0.2 reserving its share of the in-flight budget: its next request is 429; one from 127.0.0.1 is stored, over HTTP and gRPC."""
    limit = 64 * 1024
    with OTLPReceiver(
        store, grpc_port=0, http_port=0, max_body_bytes=limit, max_in_flight_bytes=8 * limit, max_in_flight_bytes_per_peer=4 * limit, shutdown_timeout_seconds=2.0
    ) as receiver:
        held = [from_attacker(receiver.http_port) for _ in range(4)]
        try:
            for connection in held:
                connection.sendall(head(limit) + b"\x00")  # each reserves its declared 64 KiB
            time.sleep(0.3)
            with from_attacker(receiver.http_port) as fifth:
                fifth.sendall(head(1000) + b"x" * 1000)
                status, answer = answer_of(fifth)
            assert status == 429 and b"Retry-After: 1" in answer
            good = scored_request("within-the-budget")
            assert http_request(receiver.http_port, good.SerializeToString())[0] == 200
            assert grpc_status(receiver.grpc_endpoint, scored_request("within-the-budget-grpc").SerializeToString()) is grpc.StatusCode.OK
        finally:
            for connection in held:
                connection.close()
    assert sorted(score.name for score in store.scores()) == ["within-the-budget", "within-the-budget-grpc"]


def test_idle_connections_from_one_address_close_its_own_oldest_not_anothers(store):
    """With 127.0.0.2 holding its share of waiting connections, its next one closes its own oldest; an idle connection from 127.0.0.1 stays open."""
    with OTLPReceiver(store, grpc_port=0, http_port=0, max_connections=2, request_timeout_seconds=TIMEOUT_SECONDS, shutdown_timeout_seconds=2.0) as receiver:
        waiting_share = 4  # WAITING_PER_SLOT x one slot, half of max_connections
        good_idle = socket.create_connection(("127.0.0.1", receiver.http_port), timeout=TIMEOUT_SECONDS)
        idle = [from_attacker(receiver.http_port) for _ in range(waiting_share + 1)]
        try:
            idle[0].settimeout(TIMEOUT_SECONDS)
            assert idle[0].recv(1) == b""  # the attacker's first idle connection was closed
            readable, _, _ = select.select([good_idle], [], [], 0.5)
            assert readable == []  # the good client's is still open, unanswered
            good_idle.sendall(head(len(scored_request("kept").SerializeToString())) + scored_request("kept").SerializeToString())
            good_idle.settimeout(TIMEOUT_SECONDS)
            assert good_idle.recv(12).startswith(b"HTTP/1.1 200")
        finally:
            good_idle.close()
            for connection in idle:
                connection.close()
    assert [score.name for score in store.scores()] == ["kept"]


def test_grpc_calls_waiting_for_their_message_from_one_address_are_capped_at_its_share(store):
    """max_connections=8: 127.0.0.2 may have 4 calls waiting for a message (half the places); the rest are RESOURCE_EXHAUSTED; an export from 127.0.0.1 is stored meanwhile."""
    with OTLPReceiver(store, grpc_port=0, http_port=0, max_connections=8, request_timeout_seconds=TIMEOUT_SECONDS * 3, shutdown_timeout_seconds=2.0) as receiver:
        with SilentCalls(receiver.grpc_port, source=ATTACKER) as calls:
            calls.open(7)
            wait_until(lambda: len(calls.statuses()) >= 3, "the calls past the peer's share were not refused")
            assert list(calls.statuses().values()) == [RESOURCE_EXHAUSTED] * 3
            assert grpc_status(receiver.grpc_endpoint, scored_request("past-the-waiting").SerializeToString()) is grpc.StatusCode.OK
            assert calls.still_open() == 4
    assert [score.name for score in store.scores()] == ["past-the-waiting"]


def test_when_every_grpc_waiting_place_is_taken_by_several_addresses_a_new_call_ends_the_longest_waiting(store):
    """max_connections=8: 127.0.0.2 and 127.0.0.3 each hold their 4 waiting places (a fifth call each is refused), all 8; an export from 127.0.0.1 is stored and one silent call is ended RESOURCE_EXHAUSTED for it."""
    with OTLPReceiver(store, grpc_port=0, http_port=0, max_connections=8, request_timeout_seconds=TIMEOUT_SECONDS * 3, shutdown_timeout_seconds=2.0) as receiver:
        with SilentCalls(receiver.grpc_port, source=ATTACKER) as first, SilentCalls(receiver.grpc_port, source="127.0.0.3") as second:
            for calls in (first, second):
                calls.open(5)  # the fifth is refused once the four before it wait: the peer's share
                wait_until(lambda: len(calls.statuses()) == 1, "the call past the peer's share was not refused")
            assert grpc_status(receiver.grpc_endpoint, scored_request("past-the-crowd").SerializeToString()) is grpc.StatusCode.OK
            ended = lambda: list(first.statuses().values()) + list(second.statuses().values())  # noqa: E731
            wait_until(lambda: len(ended()) == 3, "no waiting call was ended for the newcomer")
            assert ended() == [RESOURCE_EXHAUSTED] * 3 and first.still_open() + second.still_open() == 7
    assert [score.name for score in store.scores()] == ["past-the-crowd"]


def test_a_peer_is_its_address_whatever_the_transport_writes_around_it():
    """The port never counts; gRPC's ipv4:/ipv6: forms and an IPv4-mapped IPv6 address name the same peer as the plain address."""
    assert peer_of_address(("127.0.0.2", 5555)) == peer_of_address(("127.0.0.2", 6666)) == "127.0.0.2"
    assert peer_of_address(("::ffff:127.0.0.2", 5555, 0, 0)) == "127.0.0.2"
    assert peer_of_grpc("ipv4:127.0.0.2:5555") == "127.0.0.2"
    assert peer_of_grpc("ipv6:[::1]:5555") == peer_of_address(("::1", 1, 0, 0)) == "::1"
    assert peer_of_grpc("ipv6:[::ffff:127.0.0.2]:5555") == "127.0.0.2"
    assert peer_of_grpc("unix:/tmp/socket") == "unix:/tmp/socket"


def test_the_peer_share_holds_on_an_ipv6_loopback_receiver(store):
    """A receiver on [::1]: a gRPC client on ::1 gets its 4 waiting places (max_connections=8) and a fifth call is refused, read from gRPC's ipv6: peer form."""
    require_ipv6_loopback()
    with OTLPReceiver(store, host="::1", grpc_port=0, http_port=0, max_connections=8, request_timeout_seconds=TIMEOUT_SECONDS * 3, shutdown_timeout_seconds=2.0) as receiver:
        with SilentCalls(receiver.grpc_port, source="::1", host="::1") as calls:
            calls.open(5)
            wait_until(lambda: len(calls.statuses()) == 1, "the call past the peer's share was not refused")
            assert list(calls.statuses().values()) == [RESOURCE_EXHAUSTED] and calls.still_open() == 4


def test_a_grpc_call_whose_message_never_comes_is_ended_at_the_request_timeout(store):
    """A call that sends headers and nothing else is answered DEADLINE_EXCEEDED after the request timeout (1 s here), not held forever."""
    with OTLPReceiver(store, grpc_port=0, http_port=0, request_timeout_seconds=1.0, shutdown_timeout_seconds=2.0) as receiver:
        with SilentCalls(receiver.grpc_port, source=ATTACKER) as calls:
            calls.open(1)
            wait_until(lambda: calls.statuses(), "the silent call was never ended")
            assert list(calls.statuses().values()) == [DEADLINE_EXCEEDED]


# --- Real processes: serve, a stock exporter, an attacker ----------------------------------------


class HttpAttack:
    """Threads on 127.0.0.2 keeping the receiver's HTTP side as full as it lets them.

    ``bodies`` connections declare a body at the default body limit (16 MiB, reserved from the
    budget) and send it a byte a second; ``headers`` connections send a header line a second
    (slowloris). Each one reconnects as soon as it is answered or closed, and counts the statuses
    it heard.
    """

    def __init__(self, port: int, *, bodies: int = 24, headers: int = 40) -> None:
        self.port = port
        self.heard: Counter = Counter()
        self.retry_after = True  # every 429 carried Retry-After
        self._lock = threading.Lock()
        self._stop = threading.Event()
        body_head = head(16 * 1024 * 1024)
        slow_head = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n"
        self._threads = [threading.Thread(target=self._hold, args=(body_head, b"\x00"), daemon=True) for _ in range(bodies)]
        self._threads += [threading.Thread(target=self._hold, args=(slow_head, b"X-Slow: 1\r\n"), daemon=True) for _ in range(headers)]

    def __enter__(self) -> "HttpAttack":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(TIMEOUT_SECONDS)

    def _note(self, what: object, answer: bytes = b"") -> None:
        with self._lock:
            self.heard[what] += 1
            if what == 429 and b"Retry-After: 1" not in answer:
                self.retry_after = False

    def _hold(self, start: bytes, trickle: bytes) -> None:
        while not self._stop.is_set():
            try:
                with from_attacker(self.port) as connection:
                    connection.sendall(start + trickle)
                    while not self._stop.is_set():
                        readable, _, _ = select.select([connection], [], [], 1.0)
                        if readable:
                            answer = connection.recv(65536)
                            self._note(int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else "closed", answer)
                            break
                        connection.sendall(trickle)
            except OSError:
                self._note("closed")
            self._stop.wait(0.1)  # then at it again


def run_stock_exporter(protocol: str, port: int, count: int, token: Optional[str] = None) -> List[str]:
    """The export results of a stock OTLP exporter in its own process on 127.0.0.1."""
    env = subprocess_env()
    if token is not None:
        env["OTEL_EXPORTER_OTLP_HEADERS"] = f"authorization=Bearer%20{token}"  # the SDK's own setting
    done = subprocess.run(stock_exporter_command(protocol, port, count), capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])["results"]


def stored_names(db_path: Path) -> List[str]:
    with ScoreStore(db_path) as opened:
        return sorted(score.name for score in opened.scores())


@pytest.mark.slow
def test_an_attacker_saturating_http_from_one_address_does_not_stop_a_stock_exporter_from_another(tmp_path):
    """serve under 24 trickled 16 MiB bodies and 40 slowloris connections from 127.0.0.2 (answered 429 past its share): a stock OTLP/HTTP exporter's 10 exports from 127.0.0.1 all succeed."""
    db = tmp_path / "scores.db"
    with ReceiverProcess(db, tmp_path / "serve.log") as receiver:
        receiver.start()
        with HttpAttack(receiver.http_port) as attack:
            wait_until(lambda: attack.heard[429] > 0, f"the attacker never reached its share: {attack.heard}", timeout=60)
            results = run_stock_exporter("http", receiver.http_port, 10)
            assert attack.heard[200] == 0
        receiver.stop()
    assert results == ["SUCCESS"] * 10
    assert attack.retry_after
    assert stored_names(db) == sorted(f"good-{index}" for index in range(10))


@pytest.mark.slow
@pytest.mark.parametrize("with_token", [False, True], ids=["no-token", "token"])
def test_calls_that_never_send_a_message_from_one_address_do_not_stop_a_stock_grpc_exporter_from_another(tmp_path, with_token):
    """serve with 80 gRPC calls from 127.0.0.2 that send headers and no message: a stock OTLP/gRPC exporter's 10 exports from 127.0.0.1 all succeed.

    Without a token 16 calls wait (its share: half of the 32 waiting places, costing no thread)
    and the rest are RESOURCE_EXHAUSTED; with one, every call without it is UNAUTHENTICATED at once.
    """
    db = tmp_path / "scores.db"
    args = ["--request-timeout", "10m"]  # the silent calls stay for the whole test
    token = "s3cret-token"
    if with_token:
        args += ["--token", token]
    with ReceiverProcess(db, tmp_path / "serve.log", args) as receiver:
        receiver.start()
        with SilentCalls(receiver.grpc_port, source=ATTACKER) as first, SilentCalls(receiver.grpc_port, source=ATTACKER) as second:
            first.open(40)
            second.open(40)
            ended = lambda: len(first.statuses()) + len(second.statuses())  # noqa: E731
            wait_until(lambda: ended() >= (80 if with_token else 64), "the calls past the peer's share were not refused", timeout=60)
            results = run_stock_exporter("grpc", receiver.grpc_port, 10, token if with_token else None)
            refused = set(first.statuses().values()) | set(second.statuses().values())
            still_open = first.still_open() + second.still_open()
        receiver.stop()
    assert results == ["SUCCESS"] * 10
    if with_token:
        assert refused == {str(grpc.StatusCode.UNAUTHENTICATED.value[0])} and still_open == 0
    else:
        assert refused == {RESOURCE_EXHAUSTED} and still_open == 16
    assert stored_names(db) == sorted(f"good-{index}" for index in range(10))

