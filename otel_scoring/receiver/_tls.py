"""Server-side TLS for both transports, from one PEM certificate chain and its private key."""

from __future__ import annotations

import os
import ssl
from typing import Tuple, Union

import grpc

PathInput = Union[str, "os.PathLike[str]"]


def server_tls(cert_file: PathInput, key_file: PathInput) -> Tuple[ssl.SSLContext, grpc.ServerCredentials]:
    """An ``ssl.SSLContext`` for OTLP/HTTP and ``grpc.ServerCredentials`` for OTLP/gRPC.

    Raises ``OSError`` (``ssl.SSLError`` included) when a file is missing or not a matching PEM
    certificate and key: checked here, at construction, rather than on the first connection.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=os.fspath(cert_file), keyfile=os.fspath(key_file))
    context.set_alpn_protocols(["http/1.1"])
    with open(key_file, "rb") as key, open(cert_file, "rb") as cert:
        credentials = grpc.ssl_server_credentials([(key.read(), cert.read())])
    return context, credentials
