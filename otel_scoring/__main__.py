"""``python -m otel_scoring``: the ``otel-scoring`` command."""

from otel_scoring.cli import run

if __name__ == "__main__":
    run()
