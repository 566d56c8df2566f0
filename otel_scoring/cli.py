"""``otel-scoring``: run the receiver, read the score store, translate trace files, forward scores, run the demo.

::

    otel-scoring serve [--grpc-port 4317] [--http-port 4318] [--host 127.0.0.1] [--db PATH]
                       [--token T] [--tls-cert PEM --tls-key PEM] [--max-connections 32] [--request-timeout 30s]
                       [--forward phoenix=URL] [--forward mlflow=URL] [--forward langfuse=URL] [--retain 30d] [--workers N]
    otel-scoring scores [--name N] [--trace ID] [--session ID] [--since 1h] [--format table|json|csv]
    otel-scoring stats [--name N] [--bucket 1h] [--since 1d] [--format table|json]
    otel-scoring translate FILE... [--format json|table]
    otel-scoring forward --to phoenix=URL [--to mlflow=URL ...] [--db PATH | FILE...]
                         [--name N] [--trace ID] [--session ID] [--since 1h] [--format table|json]
    otel-scoring prune --older-than 30d [--db PATH]
    otel-scoring demo [--db PATH]

The store is ``--db``, else ``$OTEL_SCORING_DB``, else ``./otel-scoring.db``: a SQLite file, or a
``postgresql://`` URL (several receivers sharing one database; ``docs/scaling.md``). ``serve --forward``
also sends every stored batch to Phoenix, MLflow or Langfuse in the background and prints the
totals per destination when it stops; ``forward`` sends stored scores (or those of trace files)
once and prints one line per destination; ``prune`` (and ``serve --retain``) deletes old records.
Credentials come from each tool's environment variables
(``docs/forwarding.md``). ``translate``, ``stats``, ``prune`` and ``forward`` draw a progress line
on stderr when it is a terminal (not with ``--quiet``); a reader that closes the output early
(``otel-scoring scores | head``) ends the command quietly. This module only parses arguments and
prints; the work happens in the store, the receiver, the translator, the forwarders and the demo. Exit codes: 0 success,
1 failure (a destination that did not take every record, for ``forward``), 2 usage error,
141 the output was closed before it was all written.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from otel_scoring import _formatting, schema
from otel_scoring._progress import Progress
from otel_scoring._settings import resolve_str
from otel_scoring.environment_variables import OTEL_SCORING_DB, OTEL_SCORING_RECEIVER_TOKEN

__all__ = [
    "CLOSED_PIPE_EXIT_CODE",
    "DEFAULT_DB_PATH",
    "FORWARD_SHUTDOWN_TIMEOUT_SECONDS",
    "PAGE_SIZE",
    "RETENTION_CHECK_SECONDS",
    "build_parser",
    "main",
    "parse_duration",
    "parse_since",
    "resolve_db_path",
    "run",
]

DEFAULT_DB_PATH = "otel-scoring.db"
DEFAULT_UI_PORT = 4320
DASHBOARD_PREFIX = "/ui/"
COMPARE_UNUSABLE_EXIT = 2  # `compare` could not compare: not a verdict, so not the degradation code 1
PAGE_SIZE = 500  # records `scores` and `forward` read from the store (and print or send) at a time
FORWARD_SHUTDOWN_TIMEOUT_SECONDS = 30.0  # how long a stopping `serve --forward` may still forward
RETENTION_CHECK_SECONDS = 600.0  # how often `serve --retain` deletes what has grown too old
CLOSED_PIPE_EXIT_CODE = 128 + signal.SIGPIPE  # what a shell reports for a writer killed by SIGPIPE

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
MAX_DURATION_DAYS = 36_500  # a hundred years: any age, bucket or retention anyone means
MAX_REQUEST_TIMEOUT_SECONDS = 3600
MAX_COUNT = 2**63 - 1  # what SQLite's LIMIT takes
MAX_CONNECTIONS_LIMIT = 4096  # a thread each, and four waiting places each


# --- Argument types ---------------------------------------------------------------------------------


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``1h``, ``1h30m``, ``2d``, ``1w``; at most :data:`MAX_DURATION_DAYS` days."""
    compact = text.strip().lower()
    if not _DURATION.fullmatch(compact):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30s, 15m, 1h, 1h30m, 2d or 1w")
    seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(compact))
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive duration")
    if seconds > MAX_DURATION_DAYS * 86_400:  # also keeps every time computed from it a datetime
        raise argparse.ArgumentTypeError(f"{text!r} is longer than the limit of {MAX_DURATION_DAYS}d")
    return timedelta(seconds=seconds)


def _request_timeout(text: str) -> timedelta:
    timeout = parse_duration(text)
    if timeout.total_seconds() > MAX_REQUEST_TIMEOUT_SECONDS:
        raise argparse.ArgumentTypeError(f"{text!r} is longer than the limit of {MAX_REQUEST_TIMEOUT_SECONDS // 60}m for one request")
    return timeout


def parse_since(text: str, now: Optional[datetime] = None) -> datetime:
    """An ISO 8601 time (UTC unless it says otherwise) or a duration back from now (``1h``)."""
    stripped = text.strip()
    if _DURATION.fullmatch(stripped.lower()):
        return (now or datetime.now(timezone.utc)) - parse_duration(stripped)
    try:
        return schema.parse_timestamp(stripped)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither an ISO time (2026-11-22T10:00:00Z) nor a duration (1h)") from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535; 0 picks a free one)")
    return port


def _positive_int(text: str, limit: int = MAX_COUNT) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    if number > limit:
        raise argparse.ArgumentTypeError(f"{text!r} is more than the limit of {limit}")
    return number


def _bounded_int(limit: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        return _positive_int(text, limit)

    parse.__name__ = "positive integer"  # how argparse names the type in its messages
    return parse


def _forwarder(spec: str) -> Any:
    """A forwarder from ``phoenix=URL``, ``mlflow=URL`` or ``langfuse=URL``; a bad spec is a usage error."""
    from otel_scoring.forward import build_forwarder

    try:
        return build_forwarder(spec)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


# --- The parser -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from otel_scoring._receiver_defaults import (
        DEFAULT_GRPC_PORT,
        DEFAULT_HOST,
        DEFAULT_HTTP_PORT,
        DEFAULT_MAX_BODY_BYTES,
        DEFAULT_MAX_CONNECTIONS,
        DEFAULT_REQUEST_TIMEOUT_SECONDS,
        MAX_BODY_BYTES_LIMIT,
        MAX_INGEST_WORKERS,
    )

    parser = argparse.ArgumentParser(prog="otel-scoring", description="Evaluation scores and run metadata as OpenTelemetry data.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what otel-scoring does to stderr")
    parser.add_argument("--version", action=_VersionAction, help="print otel-scoring's version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    db_help = f"the score store: a SQLite file, or a postgresql:// URL (default: ${OTEL_SCORING_DB}, else ./{DEFAULT_DB_PATH})"
    forward_tools = "phoenix=URL, mlflow=URL or langfuse=URL"

    serve = commands.add_parser("serve", help="receive OTLP traces and store their scores", description="Receive OTLP/gRPC and OTLP/HTTP traces and store their scores and metadata.")
    serve.add_argument("--grpc-port", type=_port, default=DEFAULT_GRPC_PORT, help=f"OTLP/gRPC port (default {DEFAULT_GRPC_PORT}; 0 picks a free port)")
    serve.add_argument("--http-port", type=_port, default=DEFAULT_HTTP_PORT, help=f"OTLP/HTTP port (default {DEFAULT_HTTP_PORT}; 0 picks a free port)")
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    serve.add_argument("--allow-non-loopback", action="store_true", help="allow a --host other machines can reach (use --token and --tls-cert there)")
    serve.add_argument("--max-body-bytes", type=_bounded_int(MAX_BODY_BYTES_LIMIT), default=DEFAULT_MAX_BODY_BYTES, help=f"largest export accepted, compressed or not (default {DEFAULT_MAX_BODY_BYTES})")
    serve.add_argument("--token", help=f"require Authorization: Bearer TOKEN on every export (default: ${OTEL_SCORING_RECEIVER_TOKEN}, which keeps it out of the process list)")
    serve.add_argument("--tls-cert", metavar="PEM", help="serve OTLP/gRPC and OTLP/HTTP over TLS with this certificate chain (with --tls-key)")
    serve.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    serve.add_argument("--max-connections", type=_bounded_int(MAX_CONNECTIONS_LIMIT), default=DEFAULT_MAX_CONNECTIONS, help=f"HTTP connections and gRPC calls served at once; more are refused, to be retried (default {DEFAULT_MAX_CONNECTIONS})")
    serve.add_argument("--max-connections-per-peer", type=_bounded_int(MAX_CONNECTIONS_LIMIT), metavar="N", help="how many of those one client address may hold, so a client flooding the receiver leaves the rest to others (default: half of --max-connections; raise it to --max-connections when one collector sends everything)")
    serve.add_argument("--request-timeout", type=_request_timeout, default=timedelta(seconds=DEFAULT_REQUEST_TIMEOUT_SECONDS), help=f"close an HTTP connection whose request has not fully arrived in this long (default {DEFAULT_REQUEST_TIMEOUT_SECONDS:g}s)")
    serve.add_argument("--db", help=db_help)
    serve.add_argument("--workers", type=_bounded_int(MAX_INGEST_WORKERS), metavar="N", help=f"read and store exports in N worker processes, so ingest uses more than one core (not with --forward or a :memory: --db; at most {MAX_INGEST_WORKERS}; default: none, this process does it)")
    serve.add_argument("--forward", action="append", type=_forwarder, default=[], metavar="TOOL=URL", help=f"also forward what is stored to {forward_tools} (repeatable; credentials from the tool's environment variables)")
    serve.add_argument("--retain", type=parse_duration, metavar="AGE", help="delete stored records older than this (30d, 12h), at start and every 10 minutes (default: keep everything)")
    serve.add_argument("--jaeger-url", metavar="URL", help="Jaeger's UI (http://localhost:16686): the dashboard links each run to its trace there")
    serve.add_argument("--no-ui", dest="ui", action="store_false", help=f"do not serve the dashboard under {DASHBOARD_PREFIX} on the OTLP/HTTP port")
    serve.set_defaults(run=_serve)

    ui = commands.add_parser("ui", help="open a score store in the dashboard, without receiving", description="Serve the dashboard (trends, runs, compare) of a score store on loopback; the first line printed is its URL.")
    ui.add_argument("--db", help=db_help)
    ui.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    ui.add_argument("--port", type=_port, default=DEFAULT_UI_PORT, help=f"port (default {DEFAULT_UI_PORT}; 0 picks a free port)")
    ui.add_argument("--allow-non-loopback", action="store_true", help="allow a --host other machines can reach (use --token there)")
    ui.add_argument("--token", help=f"require this bearer token (default: ${OTEL_SCORING_RECEIVER_TOKEN}); a browser passes it once as ?token=")
    ui.add_argument("--jaeger-url", metavar="URL", help="Jaeger's UI (http://localhost:16686): each run links to its trace there")
    ui.set_defaults(run=_ui)

    compare = commands.add_parser(
        "compare",
        help="is the candidate cohort's score worse than the baseline's?",
        description="Compare one score between two cohorts (Welch's t interval at 95%%); exit 1 when the candidate is significantly worse, 2 when the comparison cannot be made.",
    )
    compare.add_argument("--db", help=db_help)
    compare.add_argument("--name", required=True, help="the score name to compare")
    compare.add_argument("--by", required=True, metavar="KEY", help="a resource attribute (service.version, deployment.environment), metadata.<kind>.<key>, dataset_run, or time")
    compare.add_argument("--baseline", metavar="VALUE", help="the baseline cohort's value (START/END for --by time); with --candidate")
    compare.add_argument("--candidate", metavar="VALUE", help="the candidate cohort's value; without both, a key with two values compares them, the older as baseline")
    compare.add_argument("--lower-is-better", action="store_true", help="a lower score is better (latency, error counts); default: higher is better")
    compare.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json (the dashboard API's answer)")
    compare.set_defaults(run=_compare)

    scores = commands.add_parser("scores", help="list stored scores", description="List stored scores, oldest first.")
    scores.add_argument("--db", help=db_help)
    scores.add_argument("--name", help="only scores with this name")
    scores.add_argument("--trace", help="only scores of this trace id (32 hex digits)")
    scores.add_argument("--session", help="only scores of this session id")
    scores.add_argument("--since", type=parse_since, help="only scores from this time (ISO 8601) or this long ago (30m, 1h, 2d)")
    scores.add_argument("--limit", type=_positive_int, help="at most this many scores")
    scores.add_argument("--format", choices=("table", "json", "csv"), default="table", help="table (default), json (one score per line) or csv")
    scores.set_defaults(run=_scores)

    metadata = commands.add_parser("metadata", help="list stored metadata updates", description="List stored metadata updates, oldest first.")
    metadata.add_argument("--db", help=db_help)
    metadata.add_argument("--trace", help="only updates of this run (trace id, 32 hex digits)")
    metadata.add_argument("--kind", help="only updates of this kind (default, billing, ...)")
    metadata.add_argument("--since", type=parse_since, help="only updates from this time (ISO 8601) or this long ago (30m, 1h, 2d)")
    metadata.add_argument("--format", choices=("table", "json", "csv"), default="table", help="table (default), json (one update per line) or csv")
    metadata.set_defaults(run=_metadata)

    stats = commands.add_parser("stats", help="score trends per name per time bucket", description="Count, mean, min, max, p50 and p90 of each score name per time bucket.")
    stats.add_argument("--db", help=db_help)
    stats.add_argument("--name", help="only this score name")
    stats.add_argument("--bucket", type=parse_duration, default=timedelta(hours=1), help="bucket size: 15m, 1h (default), 1d, ...")
    stats.add_argument("--since", type=parse_since, help="only scores from this time (ISO 8601) or this long ago (30m, 1h, 2d)")
    stats.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json (one bucket per line)")
    _add_quiet(stats)
    stats.set_defaults(run=_stats)

    translate = commands.add_parser(
        "translate",
        help="read scores and metadata out of trace files",
        description="Read scores and metadata out of trace files: OTLP JSON or protobuf, Collector file exports, Jaeger or Tempo API responses.",
    )
    translate.add_argument("files", nargs="+", metavar="FILE", help="trace files (the format is detected)")
    translate.add_argument("--format", choices=("json", "table"), default="json", help="json (default: one record per line, tagged with record_type) or table")
    _add_quiet(translate)
    translate.set_defaults(run=_translate)

    forward = commands.add_parser(
        "forward",
        help="send scores to Phoenix, MLflow or Langfuse",
        description="Send stored scores, or those of trace files, to Phoenix, MLflow or Langfuse (and run metadata to MLflow). Re-sending is safe: each tool updates a score by its id.",
    )
    source = forward.add_mutually_exclusive_group()
    source.add_argument("files", nargs="*", default=[], metavar="FILE", help="read the scores from these trace files (any format translate reads) instead of the store")
    source.add_argument("--db", help=db_help)
    forward.add_argument("--to", action="append", type=_forwarder, required=True, metavar="TOOL=URL", help=f"where to send: {forward_tools} (repeatable; credentials from the tool's environment variables)")
    forward.add_argument("--name", help="only scores with this name (and no metadata)")
    forward.add_argument("--trace", help="only scores and metadata of this trace id (32 hex digits)")
    forward.add_argument("--session", help="only scores of this session id (and no metadata)")
    forward.add_argument("--since", type=parse_since, help="only records from this time (ISO 8601) or this long ago (30m, 1h, 2d)")
    forward.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json (one result per destination per line)")
    _add_quiet(forward)
    forward.set_defaults(run=_forward)

    prune = commands.add_parser("prune", help="delete old scores and metadata from the store", description="Delete stored scores and metadata updates older than an age or a time.")
    prune.add_argument("--db", help=db_help)
    prune.add_argument("--older-than", type=parse_since, required=True, metavar="AGE|TIME", help="an age (30d, 12h) or a time (ISO 8601): records from before it are deleted")
    _add_quiet(prune)
    prune.set_defaults(run=_prune)

    demo = commands.add_parser("demo", help="run an instrumented workload into an embedded receiver and show its scores", description="Record scores and metadata, export them over OTLP/gRPC to an embedded receiver on loopback, and print what its store holds.")
    demo.add_argument("--db", help="keep the demo's store in this file (default: a temporary file, deleted afterwards)")
    demo.set_defaults(run=_demo)
    return parser


def _add_quiet(command: argparse.ArgumentParser) -> None:
    command.add_argument("-q", "--quiet", action="store_true", help="no progress line on stderr (it is drawn only when stderr is a terminal)")


class _VersionAction(argparse.Action):
    """``--version``, which reads the installed version only when asked: importing
    ``importlib.metadata`` (about 13 ms) would otherwise be a third of every command's start."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, default: Any = argparse.SUPPRESS, help: Optional[str] = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option_string: Optional[str] = None) -> None:
        sys.stdout.write(f"{parser.prog} {_package_version()}\n")  # stdout, as argparse's own version action
        parser.exit()


def _package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("otel-scoring")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The ``otel-scoring`` console script. Returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "max_connections_per_peer", None) is not None and args.max_connections_per_peer > args.max_connections:
        parser.error(f"--max-connections-per-peer {args.max_connections_per_peer} is past the limit of --max-connections ({args.max_connections})")
    try:
        with _logging_to_stderr(logging.INFO if args.verbose else logging.WARNING):
            try:
                return int(args.run(args))
            except _CommandError as error:
                print(f"otel-scoring {args.command}: {error}", file=sys.stderr)
                return 1
    except _OutputClosed:
        return _output_closed()


# --- Commands ---------------------------------------------------------------------------------------


class _CommandError(Exception):
    """A failure the user can act on: printed as one line, exit code 1."""


def resolve_db_path(db: Optional[str]) -> str:
    return resolve_str(db, OTEL_SCORING_DB, DEFAULT_DB_PATH) or DEFAULT_DB_PATH


def _open_store(path: str) -> Any:
    from otel_scoring.store_postgres import redacted_url
    from otel_scoring.stores import open_store, store_errors

    try:
        return open_store(path)
    except (*store_errors(), ImportError) as error:
        raise _CommandError(f"cannot open the score store {redacted_url(path)}: {error}") from None


def _open_existing_store(db: Optional[str]) -> Any:
    from otel_scoring.store_postgres import is_postgres_url

    path = resolve_db_path(db)
    if path != ":memory:" and not is_postgres_url(path) and not os.path.exists(path):
        raise _CommandError(f"no score store at {path}; start `otel-scoring serve` or pass --db")
    return _open_store(path)


def _serve(args: argparse.Namespace) -> int:
    from otel_scoring._malloc import return_large_buffers_to_the_system
    from otel_scoring.forward import ForwardingSink
    from otel_scoring.receiver import DEFAULT_SHUTDOWN_TIMEOUT_SECONDS, OTLPReceiver, is_loopback
    from otel_scoring.store_postgres import is_postgres_url

    if not is_loopback(args.host) and not args.allow_non_loopback:
        raise _CommandError(f"--host {args.host} is reachable from other machines; add --allow-non-loopback to listen there anyway (with --token and --tls-cert)")
    if (args.tls_cert is None) != (args.tls_key is None):
        raise _CommandError("--tls-cert and --tls-key go together")
    path = resolve_db_path(args.db)
    if args.workers is not None and path == ":memory:":
        raise _CommandError("--workers needs a --db every worker can open (a SQLite file or a postgresql:// URL), not :memory:")
    if args.workers is not None and args.forward:
        raise _CommandError("--workers cannot be combined with --forward: the workers store the records and do not pass them on; forward them with `otel-scoring forward`")
    return_large_buffers_to_the_system()  # so memory follows the receiver's budget (this process is ours)
    # The receiver passes each stored batch to the sink, which forwards it on its own thread.
    sink = ForwardingSink(args.forward) if args.forward else None
    stop = threading.Event()
    # Signals are caught before the servers start, so a SIGTERM during startup still stops cleanly.
    with _stop_on_signals(stop), _open_store(path) as store:
        try:
            receiver = OTLPReceiver(
                store,
                host=args.host,
                grpc_port=args.grpc_port,
                http_port=args.http_port,
                max_body_bytes=args.max_body_bytes,
                allow_non_loopback=args.allow_non_loopback,
                token=args.token,
                tls_cert_file=args.tls_cert,
                tls_key_file=args.tls_key,
                max_connections=args.max_connections,
                max_connections_per_peer=args.max_connections_per_peer,
                request_timeout_seconds=args.request_timeout.total_seconds(),
                on_stored=sink,
                ingest_workers=args.workers,
                shutdown_timeout_seconds=DEFAULT_SHUTDOWN_TIMEOUT_SECONDS if sink is None else FORWARD_SHUTDOWN_TIMEOUT_SECONDS,
            )
            if args.ui and _reads_cohorts(store):
                receiver.mount(_dashboard(store, args))
            elif args.ui:
                _say(f"no dashboard: {_NO_COHORTS}")
            receiver.start()
        except (ValueError, OSError) as error:
            raise _CommandError(f"cannot listen: {error}") from None
        try:
            _say(f"receiving OTLP/gRPC on {receiver.grpc_endpoint}")
            _say(f"receiving OTLP/HTTP on {receiver.traces_url}")
            _say(f"receiving OTLP/HTTP logs on {receiver.logs_url}")
            if args.ui:
                _say(f"dashboard on {receiver.http_endpoint.rstrip('/')}{DASHBOARD_PREFIX}")
            if receiver.core.requires_token:
                _say("every export must carry Authorization: Bearer <token>")
            for forwarder in args.forward:
                _say(f"forwarding stored scores to {forwarder.destination} at {getattr(forwarder, 'endpoint', '?')}")
            if args.workers is not None:
                _say(f"reading and storing exports in {args.workers} worker process(es): {', '.join(map(str, receiver.worker_pids))}")
            _say(f"storing scores in {path if path == ':memory:' else store.path if is_postgres_url(path) else os.path.abspath(path)} (Ctrl+C to stop)")
            next_prune = time.monotonic()  # at once, then every RETENTION_CHECK_SECONDS
            while True:
                if args.retain is not None and time.monotonic() >= next_prune:
                    _apply_retention(store, args.retain)
                    next_prune = time.monotonic() + RETENTION_CHECK_SECONDS
                if stop.wait(0.5):
                    break
        finally:
            receiver.stop()  # with a sink: forwards what is queued, within its shutdown timeout
    if sink is not None:
        for total in sink.totals:
            _say(f"forwarded to {_forward_summary(total)}")
        if sink.dropped_batches:
            _say(f"{sink.dropped_batches} batch(es) were not forwarded (the queue was full); they are in the store: send them with `otel-scoring forward`")
    _say("stopped")
    return 0


_NO_COHORTS = "the dashboard and compare read a SQLite store for now (the PostgreSQL store keeps no runs or cohorts yet)"


def _reads_cohorts(store: Any) -> bool:
    """Whether ``store`` keeps the runs and cohorts the dashboard and ``compare`` read."""
    return callable(getattr(store, "cohort_summary", None))


def _dashboard(store: Any, args: argparse.Namespace, redirect_root: bool = False) -> Any:
    from otel_scoring.dashboard import Dashboard

    token = resolve_str(args.token, OTEL_SCORING_RECEIVER_TOKEN) or None
    return Dashboard(store, token=token, jaeger_url=args.jaeger_url, prefix=DASHBOARD_PREFIX, redirect_root=redirect_root)


def _ui(args: argparse.Namespace) -> int:
    from otel_scoring.dashboard import NotReceiving
    from otel_scoring.receiver import is_loopback
    from otel_scoring.receiver._core import ReceiverCore
    from otel_scoring.receiver._http import HTTPReceiverThread

    if not is_loopback(args.host) and not args.allow_non_loopback:
        raise _CommandError(f"--host {args.host} is reachable from other machines; add --allow-non-loopback to listen there anyway (with --token)")
    stop = threading.Event()
    with _stop_on_signals(stop), _open_existing_store(args.db) as store:
        if not _reads_cohorts(store):
            raise _CommandError(_NO_COHORTS)
        dashboard = _dashboard(store, args, redirect_root=True)
        # The receiver's HTTP server, for its connection limits and deadlines; every path is
        # the dashboard's or refused, so nothing is ever received.
        core = ReceiverCore(lambda translation: 0)
        try:
            server = HTTPReceiverThread(core, args.host, args.port)
        except (ValueError, OSError) as error:
            raise _CommandError(f"cannot listen: {error}") from None
        server.mount(dashboard)
        server.mount(NotReceiving())
        server.start()
        try:
            host = f"[{args.host}]" if ":" in args.host else args.host
            token = resolve_str(args.token, OTEL_SCORING_RECEIVER_TOKEN)
            _print(f"http://{host}:{server.port}{DASHBOARD_PREFIX}" + (f"?token={token}" if token else ""))
            _say(f"showing the score store {os.path.abspath(store.path)} (Ctrl+C to stop)")
            while not stop.wait(0.5):
                pass
        finally:
            server.stop(5.0)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from otel_scoring.dashboard import ApiError, compare

    params = {"name": args.name, "by": args.by, "lower_is_better": "true" if args.lower_is_better else "false"}
    if args.baseline is not None:
        params["baseline"] = args.baseline
    if args.candidate is not None:
        params["candidate"] = args.candidate
    with _open_existing_store(args.db) as store:
        if not _reads_cohorts(store):
            raise _CommandError(_NO_COHORTS)
        try:
            answer = compare(store, params)
        except ApiError as error:
            print(f"otel-scoring compare: {error.message}", file=sys.stderr)
            return COMPARE_UNUSABLE_EXIT
    _print(_formatting.json_lines([answer]) if args.format == "json" else _formatting.comparison_table(answer))
    return 1 if answer["degraded"] else 0


def _apply_retention(store: Any, retain: timedelta) -> None:
    """Delete what is older than ``retain``; a failure is reported and serving goes on."""
    from otel_scoring.stores import store_errors

    cutoff = datetime.now(timezone.utc) - retain
    try:
        scores, updates = store.delete_before(cutoff)
    except store_errors() as error:
        logging.getLogger(__name__).warning("otel-scoring serve: could not delete records older than %s: %s", cutoff.isoformat(), error)
        return
    if scores or updates:
        _say(f"deleted {scores} score(s) and {updates} metadata update(s) older than {cutoff.isoformat()} (--retain)")


def _prune(args: argparse.Namespace) -> int:
    progress = Progress("prune", quiet=args.quiet)
    with _open_existing_store(args.db) as store:
        scores, updates = store.delete_before(args.older_than, on_progress=lambda scores, updates: progress.update(scores + updates, "records deleted"))
    progress.finish(scores + updates, "records deleted")
    _print(f"deleted {scores} score(s) and {updates} metadata update(s) from before {args.older_than.isoformat()}")
    return 0


def _scores(args: argparse.Namespace) -> int:
    with _open_existing_store(args.db) as store:
        pages = store.score_pages(name=args.name, trace_id=args.trace, session_id=args.session, since=args.since, limit=args.limit, page_size=PAGE_SIZE)
        if args.format == "table":  # a table's columns fit every row, so it needs them all first
            records = [record for page in pages for record in page]
            _print(_formatting.score_table(records) if records else "no scores")
            return 0
        # JSON lines and CSV rows are printed a page at a time: any number of scores in bounded memory.
        if args.format == "csv":
            _print(_formatting.score_csv([]))  # the header, once
        for page in pages:
            _print(_formatting.json_lines(page) if args.format == "json" else _formatting.score_csv(page, header=False))
    return 0


def _metadata(args: argparse.Namespace) -> int:
    with _open_existing_store(args.db) as store:
        pages = ([r for r in page if args.kind is None or r.kind == args.kind] for page in store.metadata_pages(trace_id=args.trace, since=args.since, page_size=PAGE_SIZE))
        if args.format == "table":
            records = [record for page in pages for record in page]
            _print(_formatting.metadata_table(records) if records else "no metadata")
            return 0
        if args.format == "csv":
            _print(_formatting.metadata_csv([]))  # the header, once
        for page in pages:
            if page:
                _print(_formatting.json_lines(page) if args.format == "json" else _formatting.metadata_csv(page, header=False))
    return 0


def _stats(args: argparse.Namespace) -> int:
    progress = Progress("stats", quiet=args.quiet)
    with _open_existing_store(args.db) as store:
        stored = store.count_scores() if progress.enabled else 0
        # SQLite summarizes in one pass and says nothing of how far it is: the line shows that it works.
        rows = store.stats(
            name=args.name, bucket_seconds=args.bucket.total_seconds(), since=args.since, on_progress=lambda: progress.update(stored, "stored scores being summarized", rate=False)
        )
    progress.finish(sum(row["count"] for row in rows), "scores summarized", len(rows), "bucket(s)")
    if args.format == "json":
        _print(_formatting.json_lines(rows))
    else:
        _print(_formatting.stats_table(rows) if rows else "no scores")
    return 0


def _translate(args: argparse.Namespace) -> int:
    # A file is read a request at a time and its records printed as they come, so a Collector
    # export larger than memory translates in the memory of its largest request.
    failed = False
    progress = Progress("translate", quiet=args.quiet)
    counts = {"scores": 0, "metadata": 0, "requests": 0}
    for path in args.files:
        try:
            if args.format == "json":
                _translate_to_json_lines(path, counts, progress)
            else:
                _translate_to_tables(path, len(args.files) > 1, counts, progress)
        except OSError as error:
            progress.clear()
            print(f"otel-scoring translate: cannot read {path}: {error.strerror or error}", file=sys.stderr)
            failed = True
        except ValueError as error:
            progress.clear()
            print(f"otel-scoring translate: {path} is not a trace file otel-scoring can read: {error}", file=sys.stderr)
            failed = True
    progress.finish(counts["scores"], "scores", counts["metadata"], "metadata update(s)", counts["requests"], "request(s)")
    return 1 if failed else 0


def _translate_to_json_lines(path: str, counts: Dict[str, int], progress: Progress) -> None:
    from otel_scoring.translate import translations_from_file

    for translation in translations_from_file(path):
        text = "\n".join(line for line in (_formatting.json_lines(translation.scores, "score"), _formatting.json_lines(translation.metadata, "metadata")) if line)
        if text:
            progress.clear()
            _print(text)
        _count(translation, counts, progress)
        del translation, text  # not held while the next request is parsed: memory is one request's


def _translate_to_tables(path: str, named: bool, counts: Dict[str, int], progress: Progress) -> None:
    """A table of the scores, then one of the metadata updates: a pass over the file for each, so
    that both tables stream (the updates are not held while the scores print)."""
    from otel_scoring.translate import translations_from_file

    if named:
        _print(f"== {path}")
    scores = _formatting.StreamedTable(_formatting.SCORE_HEADERS, _formatting.SCORE_RIGHT_ALIGNED)
    found = 0
    for translation in translations_from_file(path):
        if translation.scores:
            progress.clear()
            _print(scores.page(_formatting.score_rows(translation.scores)))
        found += len(translation.scores)
        _count(translation, counts, progress, metadata=False)
    progress.clear()
    _print(f"{found} score(s)")
    updates = _formatting.StreamedTable(_formatting.METADATA_HEADERS)
    found = 0
    for translation in translations_from_file(path):
        if translation.metadata:
            progress.clear()
            _print(updates.page(_formatting.metadata_rows(translation.metadata)))
        found += len(translation.metadata)
    counts["metadata"] += found
    progress.clear()
    _print(f"{found} metadata update(s)")


def _count(translation: Any, counts: Dict[str, int], progress: Progress, metadata: bool = True) -> None:
    counts["scores"] += len(translation.scores)
    counts["metadata"] += len(translation.metadata) if metadata else 0
    counts["requests"] += 1
    progress.update(counts["scores"], "scores", counts["metadata"], "metadata update(s)", counts["requests"], "request(s)")


def _forward(args: argparse.Namespace) -> int:
    from otel_scoring.forward import ForwardResult, forward_records
    from otel_scoring.forward._base import close_forwarders

    results = [ForwardResult(forwarder.destination) for forwarder in args.to]
    score_count = metadata_count = 0
    progress = Progress("forward", quiet=args.quiet)
    try:
        for scores, metadata in _batches_to_forward(args):
            score_count += len(scores)
            metadata_count += len(metadata)
            # Page after page over the same kept-alive connections, closed once at the end.
            for total, result in zip(results, forward_records([*scores, *metadata], args.to, close=False)):
                total.merge(result)
            progress.update(score_count + metadata_count, "records forwarded", score_count, "score(s)", metadata_count, "metadata update(s)")
    finally:
        close_forwarders(args.to)
    progress.finish(score_count + metadata_count, "records forwarded", score_count, "score(s)", metadata_count, "metadata update(s)")
    if args.format == "json":
        _print(_formatting.json_lines(results))
    else:
        _print(f"{score_count} score(s) and {metadata_count} metadata update(s) to forward")
        headers = ("destination", "sent", "skipped", "failed", "metadata sent", "metadata skipped", "metadata failed", "problems")
        rows = [
            (r.destination, str(r.sent), str(r.skipped), str(r.failed), str(r.metadata_sent), str(r.metadata_skipped), str(r.metadata_failed), ", ".join(r.error_kinds) or "-")
            for r in results
        ]
        _print(_formatting.render_table(headers, rows, right_aligned=headers[1:-1]))
    # Each destination that failed has already logged its first error on stderr.
    return 0 if all(result.ok for result in results) else 1


def _batches_to_forward(args: argparse.Namespace) -> Iterator[Tuple[List[Any], List[Any]]]:
    """(scores, metadata) batches that pass the filters, read from the store page by page, so
    forwarding a large store holds one page in memory. Files are loaded into a store in memory
    first (a file is read whole): the same filters, and the same latest write of an id wins."""
    with _store_of_files(args.files) if args.files else _open_existing_store(args.db) as store:
        for page in store.score_pages(name=args.name, trace_id=args.trace, session_id=args.session, since=args.since, page_size=PAGE_SIZE):
            yield page, []
        if args.name is None and args.session is None:  # they pick scores; metadata has neither
            for page in store.metadata_pages(trace_id=args.trace, since=args.since, page_size=PAGE_SIZE):
                yield [], page


def _store_of_files(paths: Sequence[str]) -> Any:
    """A store in memory holding every score and metadata update of the files."""
    from otel_scoring.store import ScoreStore
    from otel_scoring.translate import translations_from_file

    store = ScoreStore(":memory:")
    try:
        for path in paths:
            try:
                for translation in translations_from_file(path):  # a request at a time: the store holds the records, not the file
                    store.add(translation)
            except OSError as error:
                raise _CommandError(f"cannot read {path}: {error.strerror or error}; nothing was forwarded") from None
            except ValueError as error:
                raise _CommandError(f"{path} is not a trace file otel-scoring can read: {error}; nothing was forwarded") from None
    except BaseException:
        store.close()
        raise
    return store


def _forward_summary(result: Any) -> str:
    summary = (
        f"{result.destination}: {result.sent} score(s) sent, {result.skipped} skipped, {result.failed} failed; "
        f"{result.metadata_sent} metadata update(s) sent, {result.metadata_skipped} skipped, {result.metadata_failed} failed"
    )
    return summary + (f" (first problem: {result.errors[0]})" if result.errors else "")


def _demo(args: argparse.Namespace) -> int:
    from otel_scoring._demo import run_demo

    return run_demo(out=sys.stdout, db_path=args.db)


# --- Output and process plumbing --------------------------------------------------------------------


class _OutputClosed(Exception):
    """Whoever read stdout has closed it (``otel-scoring scores | head``): there is no one to write for."""


def _print(text: str) -> None:
    if text:
        _write_line(text)


def _say(message: str) -> None:
    """A status line of a long-running command, on stdout so scripts can read the ports."""
    _write_line(f"otel-scoring: {message}")


def _write_line(text: str) -> None:
    # Only stdout's own closed pipe ends the command this way; a peer's closed socket stays an error.
    try:
        print(text, flush=True)
    except BrokenPipeError:
        raise _OutputClosed from None


def _output_closed() -> int:
    """Stop quietly, as a Unix tool killed by SIGPIPE does, with its exit code."""
    # Python flushes stdout again at exit and would report the same closed pipe: point it at devnull.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is no file (captured): nothing is flushed to a pipe at exit
        pass
    return CLOSED_PIPE_EXIT_CODE


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` (in the main thread; elsewhere signals stay as they are)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler: Callable[[int, Any], None] = lambda signum, frame: stop.set()  # noqa: E731
    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextmanager
def _logging_to_stderr(level: int) -> Iterator[None]:
    """Show otel-scoring's log lines on stderr while a command runs, then leave logging as it was."""
    logger = logging.getLogger("otel_scoring")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("otel-scoring: %(levelname)s %(message)s"))
    handler.setLevel(level)
    previous_level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > level:
        logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


def run() -> None:
    """Exit with :func:`main`'s code (``python -m otel_scoring``)."""
    sys.exit(main())
