"""Several jobqd addresses, and following the leader among them.

Several jobqd sharing one log in PostgreSQL form a cluster: one leads, the
others are standbys. A standby refuses every call with UNAVAILABLE, the
message "jobqd is a standby; the leader is HOST:PORT" (or "...; no leader
yet"), and the trailing metadata `jobq-leader: HOST:PORT` when it knows
the leader.

A Cluster holds the addresses a Client or Worker was given ("a:7070,
b:7070" or a list), the leaders named to it since, the address it takes
for the leader now, and one channel per address, opened on first use and
kept until release(): the leader's channel serves call after call, and a
call still in flight on an address that was left keeps its channel.

retry() runs one unary call (or the opening of a stream) on the leader and
follows it when the call fails with UNAVAILABLE:
- A refusal that names the leader moves to that address (added to the
  list if new); any other UNAVAILABLE moves to the next address.
- Bound: one call tries each address at most once, and a named leader once
  more. There are no rounds, so nothing sleeps; when every address has had
  its try the last error is raised.
- A call that changes state is tried again only when it certainly did not
  reach a leader: a standby refused it, or no connection could be made
  (grpc failed to connect, so nothing was sent). Any other UNAVAILABLE (a
  connection lost mid-call, a leader whose log has failed) may have taken
  effect, and is the caller's to see. Reads are always tried again.
A stream that breaks reports it to failed() on its own reconnect path, and
opens the next stream on the new leader().

A node named leader whose last call found no connection is dialled at once
on a new channel. Its old channel is waiting out grpc's reconnect backoff
(a second at first, growing to two minutes while the node stays down), and
would fail every call fast until then: a standby restarted after a crash
and then elected would be passed over for that long.

A single address is what it was before clusters: one channel, one try,
except that a standby naming the leader is followed.
Thread: the owner's: a Client's or Worker's event loop, or the thread of
the blocking worker's run(). Nothing here locks.
"""

import asyncio
import inspect
import time

import grpc

# The trailing metadata key of a standby's refusal: the leader's address.
LEADER_KEY = "jobq-leader"
STANDBY_MESSAGE = "jobqd is a standby"

# grpc's words for a call that found no connection, so it was never sent:
# picking a connection failed (refused, unresolvable, unreachable).
_NEVER_SENT = ("failed to connect to all addresses",
               "Failed to connect to remote host",
               "Connection refused",
               "DNS resolution failed",
               "connections to all backends failing")


def parse_addresses(address):
    """The addresses in `address`: "host:port", several of them separated
    by commas, or a list (or tuple) of those. Blanks and repeats are
    dropped; raises ValueError when none is left."""
    parts = address.split(",") if isinstance(address, str) else [
        p for a in address for p in a.split(",")]
    addresses = []
    for p in (p.strip() for p in parts):
        if p and p not in addresses:
            addresses.append(p)
    if not addresses:
        raise ValueError(f"jobq: no jobqd address in {address!r}")
    return addresses


def named_leader(error):
    """The leader's address that a standby's refusal names (its trailing
    metadata jobq-leader), or None."""
    trailing = getattr(error, "trailing_metadata", None)
    for key, value in (trailing() if trailing else None) or ():
        if key == LEADER_KEY and value:
            return value.decode() if isinstance(value, bytes) else value
    return None


def refused_by_standby(error):
    """True when a standby refused the call: it did nothing."""
    return named_leader(error) is not None or \
        (error.details() or "").startswith(STANDBY_MESSAGE)


def never_sent(error):
    """True when grpc could make no connection for the call: no server
    saw it."""
    details = error.details() or ""
    return any(words in details for words in _NEVER_SENT)


class FollowOnce:
    """When a worker's stream breaks: whether to reconnect at once to the
    leader the break named. Yes, but not twice in a row without a welcome
    in between, so that nodes naming each other do not spin."""

    def __init__(self):
        self._followed = False  # The last break named a new leader.

    def now(self, leader, address, welcomed):
        """`leader`: the address the break named (None: none); `address`:
        the node whose stream broke; `welcomed`: a session began since the
        last break."""
        if welcomed:
            self._followed = False
        if leader not in (None, address) and not self._followed:
            self._followed = True
            return True
        self._followed = False
        return False


class Cluster:
    """The addresses of jobqd's cluster and the one taken for its leader.

    `address`: as parse_addresses() takes it. `open_channel(address)`
    makes a channel (aio or blocking, as the owner uses). `channel`: one
    the caller made; then every call uses it and no leader is followed,
    since a channel cannot be pointed elsewhere, and release() leaves it
    to its maker.
    """

    def __init__(self, address, open_channel, channel=None):
        self.addresses = parse_addresses(address)
        self.leader = self.addresses[0]
        self._open_channel = open_channel
        self._given = channel
        self._channels = {}  # address -> channel, opened on first use.
        self._stubs = {}     # (stub class, address) -> stub.
        # Addresses whose last call found no connection: their channels
        # wait out a reconnect backoff.
        self._unreachable = set()
        self._closing = set()  # Close tasks of replaced aio channels.

    @property
    def follows(self):
        """False when the caller gave the channel: nothing is followed."""
        return self._given is None

    def channel(self, address=None):
        """The channel to `address` (default: the leader)."""
        if self._given is not None:
            return self._given
        address = address or self.leader
        ch = self._channels.get(address)
        if ch is None:
            ch = self._channels[address] = self._open_channel(address)
        return ch

    def stub(self, stub_class, address=None):
        """A `stub_class` (say JobServiceStub) on `address`'s channel."""
        address = address or self.leader
        key = (stub_class, address)
        stub = self._stubs.get(key)
        if stub is None:
            stub = self._stubs[key] = stub_class(self.channel(address))
        return stub

    def failed(self, address, error):
        """Reports that a call or stream on `address` failed with
        UNAVAILABLE `error`. Moves the leader to the one `error` names
        (adding it to the addresses if new), else to the address after
        `address`, unless another call has moved it meanwhile. Returns the
        leader named, or None."""
        if self._given is not None:
            return None
        if never_sent(error):
            self._unreachable.add(address)
        leader = named_leader(error)
        if leader is not None:
            if leader not in self.addresses:
                self.addresses.append(leader)
            self._dial_afresh(leader)
            self.leader = leader
        elif self.leader == address:
            self.leader = self._after(address, ()) or address
        return leader

    def succeeded(self, address):
        """A call on `address` was answered: it leads."""
        if self._given is None:
            self._unreachable.discard(address)
            self.leader = address

    async def retry(self, attempt, *, changes_state, timeout=None):
        """`await attempt(address, timeout)` on the leader, following it
        as the module's comment says; `timeout` (seconds or None) bounds
        all the tries together. Raises the last grpc.RpcError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        tried = set()
        second_try = True  # The named leader's one more.
        address = self.leader
        while True:
            left = None if deadline is None else \
                max(0.0, deadline - time.monotonic())
            try:
                result = await attempt(address, left)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE or \
                        self._given is not None:
                    raise
                if changes_state and not (refused_by_standby(e) or
                                          never_sent(e)):
                    raise  # It may have reached the leader.
                tried.add(address)
                leader = self.failed(address, e)
                if leader is not None and leader not in tried:
                    address = leader
                elif leader is not None and second_try:
                    second_try = False
                    address = leader
                elif self.leader not in tried:
                    address = self.leader  # Another call moved it.
                else:
                    address = self._after(address, tried)
                if address is None:
                    raise
                continue
            self.succeeded(address)
            return result

    async def call(self, stub_class, method, request, *, changes_state,
                   metadata=(), timeout=None):
        """The unary call `method` (a name, say "Submit") of `stub_class`
        on the leader, through retry()."""
        async def attempt(address, left):
            fn = getattr(self.stub(stub_class, address), method)
            return await fn(request, metadata=metadata, timeout=left)
        return await self.retry(attempt, changes_state=changes_state,
                                timeout=timeout)

    def release(self):
        """The channels opened here, to be closed by the owner; the next
        use opens new ones. A given channel is not among them."""
        channels = list(self._channels.values())
        self._channels.clear()
        self._stubs.clear()
        return channels

    def _dial_afresh(self, address):
        """Replaces `address`'s channel with a new one, which connects on
        its first call, when its last call found no connection. The old
        one carries no call (its connection is gone) and is closed."""
        if address not in self._unreachable:
            return
        self._unreachable.discard(address)
        old = self._channels.pop(address, None)
        for key in [k for k in self._stubs if k[1] == address]:
            del self._stubs[key]
        closing = old.close() if old is not None else None
        if inspect.isawaitable(closing):  # grpc.aio: a coroutine.
            task = asyncio.ensure_future(closing)
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def _after(self, address, skip):
        """The first address after `address`, in order and round to the
        start, that is not in `skip`; None if there is none."""
        n = len(self.addresses)
        i = self.addresses.index(address) if address in self.addresses \
            else n - 1
        for k in range(1, n + 1):
            a = self.addresses[(i + k) % n]
            if a not in skip:
                return a
        return None
