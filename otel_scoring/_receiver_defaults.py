"""The receiver's defaults and limits, where the CLI's parser reads them.

A module that imports nothing: ``otel-scoring --help``, ``translate`` or ``stats`` build the whole
parser, ``serve``'s options included, and importing :mod:`otel_scoring.receiver` for these numbers
would start gRPC and the translator first (a seventh of a second, on every command). The receiver
re-exports each of them.
"""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_GRPC_PORT = 4317
DEFAULT_HTTP_PORT = 4318
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
# gRPC takes its message limit as a C int; no OTLP export needs more than this.
MAX_BODY_BYTES_LIMIT = 1024 * 1024 * 1024
DEFAULT_REQUEST_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_CONNECTIONS = 32
DEFAULT_SHUTDOWN_TIMEOUT_SECONDS = 5.0
# Worker processes one receiver may run to read and store exports (serve --workers): a core each is
# the most that helps, and SQLite takes one writer at a time however many there are.
MAX_INGEST_WORKERS = 16
