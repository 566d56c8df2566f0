"""CLI arguments past what the program can honour are usage errors naming the limit (never a
traceback, nor a server that accepts and then breaks every request); ``--host '[::1]'`` binds."""

from __future__ import annotations


import grpc
import pytest
from support.receiver_support import grpc_status, require_ipv6_loopback, scored_request

from otel_scoring.cli import main
from otel_scoring.receiver import OTLPReceiver
from otel_scoring.store import ScoreStore


@pytest.mark.parametrize(
    "argv, limit",
    [
        (["stats", "--since", "99999999999d"], "limit of 36500d"),
        (["stats", "--bucket", "9999999999999w"], "limit of 36500d"),
        (["scores", "--since", "99999999999999999999d"], "limit of 36500d"),
        (["scores", "--limit", "99999999999999999999999"], "limit of 9223372036854775807"),
        (["prune", "--older-than", "999999999999999d"], "limit of 36500d"),
        (["serve", "--retain", "99999999999999d"], "limit of 36500d"),
        (["serve", "--max-body-bytes", "99999999999999999999"], "limit of 1073741824"),
        (["serve", "--max-connections", "10000000"], "limit of 4096"),
        (["serve", "--max-connections-per-peer", "10000000"], "limit of 4096"),
        (["serve", "--max-connections-per-peer", "33"], "limit of --max-connections (32)"),
        (["serve", "--request-timeout", "99999999999d"], "limit of 36500d"),
        (["serve", "--request-timeout", "2h"], "limit of 60m"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_an_argument_out_of_range_is_a_usage_error_naming_the_limit(tmp_path, capsys, argv, limit):
    """Exit status 2 and one line saying which argument and what its limit is; no traceback."""
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--db", str(tmp_path / "scores.db")])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert limit in error and "Traceback" not in error


def test_a_bracketed_ipv6_loopback_host_binds_both_transports(tmp_path):
    """host='[::1]' (how URLs write it, and what --host passes) serves gRPC and HTTP on ::1."""
    require_ipv6_loopback()
    with ScoreStore(tmp_path / "scores.db") as store, OTLPReceiver(store, host="[::1]", grpc_port=0, http_port=0, shutdown_timeout_seconds=2.0) as receiver:
        assert receiver.grpc_endpoint.startswith("[::1]:")
        assert grpc_status(receiver.grpc_endpoint, scored_request("over-ipv6").SerializeToString()) is grpc.StatusCode.OK
        assert [score.name for score in store.scores()] == ["over-ipv6"]
