"""Per-peer shares of the receiver's limits, so one client cannot hold what every other one needs.

A *peer* is a client's IP address: its port changes with every connection, so it says nothing about
who is sending. Every limit the receiver has (HTTP connection threads, waiting connections and
request slots, gRPC calls waiting for their message and calls in progress, the in-flight memory
budget) is a :class:`SharedLimit`: at most ``limit`` held in all, and at most ``per_peer`` of it by
any one peer, half by default (:func:`peer_share`). A client saturating the receiver from one
address thus leaves the other half to everyone else, whose exports keep being stored.

Clients behind one address (a NAT, a proxy, a collector fanning in) count as one peer, which is
why the share can be raised up to the whole limit (``max_connections_per_peer``,
``max_in_flight_bytes_per_peer``).
"""

from __future__ import annotations

import ipaddress
import threading
from typing import Any, Dict, Optional

PEER = "peer"  # SharedLimit.take's reason: the peer holds its whole share
TOTAL = "total"  # every unit is held, by whichever peers


def peer_share(limit: int) -> int:
    """The default share of one peer: half of ``limit``, at least 1."""
    return max(1, limit // 2)


def peer_of_address(client_address: Any) -> str:
    """The peer of a socket's ``client_address`` (``(host, port)`` or IPv6's 4-tuple)."""
    host = client_address[0] if isinstance(client_address, tuple) and client_address else str(client_address)
    return _normalised(str(host))


def peer_of_grpc(peer: Optional[str]) -> str:
    """The peer of gRPC's ``context.peer()``: ``ipv4:127.0.0.2:5555``, ``ipv6:[::1]:5555``, ``unix:...``."""
    if not peer:
        return ""
    scheme, _, rest = peer.partition(":")
    if scheme == "ipv4":
        return _normalised(rest.rpartition(":")[0])
    if scheme == "ipv6":
        return _normalised(rest.rpartition(":")[0].strip("[]"))
    return peer  # a Unix socket or an unknown scheme: the whole string is the peer


def _normalised(host: str) -> str:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)  # ::ffff:127.0.0.2 on a dual-stack socket is 127.0.0.2
    return str(address)


class SharedLimit:
    """Units (slots, bytes) held by peers: ``limit`` in all, ``per_peer`` for any one peer. Never blocks.

    A peer of ``None`` is not counted against any share (in-process callers with no address).
    """

    def __init__(self, limit: int, per_peer: Optional[int] = None) -> None:
        self.limit = limit
        self.per_peer = limit if per_peer is None else min(limit, per_peer)
        self._used = 0
        self._by_peer: Dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, amount: int = 1, peer: Optional[str] = None) -> Optional[str]:
        """Hold ``amount`` for ``peer``: None when taken, else why not (:data:`PEER` or :data:`TOTAL`)."""
        with self._lock:
            if self._used + amount > self.limit:
                return TOTAL
            if peer is not None and self._by_peer.get(peer, 0) + amount > self.per_peer:
                return PEER
            self._used += amount
            if peer is not None:
                self._by_peer[peer] = self._by_peer.get(peer, 0) + amount
            return None

    def give_back(self, amount: int = 1, peer: Optional[str] = None) -> None:
        with self._lock:
            self._used = max(0, self._used - amount)
            if peer is not None and peer in self._by_peer:
                left = self._by_peer[peer] - amount
                if left > 0:
                    self._by_peer[peer] = left
                else:
                    del self._by_peer[peer]  # peers that hold nothing take no memory either

    @property
    def used(self) -> int:
        return self._used

    def used_by(self, peer: str) -> int:
        with self._lock:
            return self._by_peer.get(peer, 0)
