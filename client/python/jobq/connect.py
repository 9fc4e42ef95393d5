"""Channels to jobqd (plaintext or TLS, with a bearer token), and the
backoff that streams use to reconnect.

The options match jobqctl's: tls=jobq.TLS(ca=..., cert=..., key=...,
server_name=...) or tls=True (the system's roots); token= a bearer token,
else $JOBQ_TOKEN. TLS also follows $JOBQ_TLS_CA, $JOBQ_TLS_CERT,
$JOBQ_TLS_KEY and $JOBQ_TLS_SERVER_NAME when tls is not given.
"""

import os
import random

import grpc


class TLS:
    """TLS to jobqd: `ca` (PEM file of the CA that signed jobqd's
    certificate; None: the system's roots), `cert` and `key` for mutual
    TLS, `server_name` to check the certificate against."""

    def __init__(self, ca=None, cert=None, key=None, server_name=None):
        self.ca = ca
        self.cert = cert
        self.key = key
        self.server_name = server_name

    @classmethod
    def from_environment(cls):
        env = os.environ
        if not any(env.get(v) for v in ("JOBQ_TLS_CA", "JOBQ_TLS_CERT")):
            return None
        return cls(env.get("JOBQ_TLS_CA") or None,
                   env.get("JOBQ_TLS_CERT") or None,
                   env.get("JOBQ_TLS_KEY") or None,
                   env.get("JOBQ_TLS_SERVER_NAME") or None)

    def credentials(self):
        def read(path):
            if path is None:
                return None
            with open(path, "rb") as f:
                return f.read()
        return grpc.ssl_channel_credentials(
            root_certificates=read(self.ca), private_key=read(self.key),
            certificate_chain=read(self.cert))


# Large messages: a payload or result may be up to jobqd's --max-payload.
# Each channel its own connection: grpc shares one between channels of the
# same address otherwise, and with it the reconnect backoff that a new
# channel to a node back from the dead is made to escape (cluster.py).
_OPTIONS = [("grpc.max_receive_message_length", 64 << 20),
            ("grpc.max_send_message_length", 64 << 20),
            ("grpc.use_local_subchannel_pool", 1)]


def _tls_of(tls):
    if tls is None:
        return TLS.from_environment()
    if tls is True:
        return TLS()
    if tls is False:
        return None
    return tls


def aio_channel(address, tls=None):
    """A grpc.aio channel to `address` (host:port)."""
    tls = _tls_of(tls)
    if tls is None:
        return grpc.aio.insecure_channel(address, options=_OPTIONS)
    options = list(_OPTIONS)
    if tls.server_name:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    return grpc.aio.secure_channel(address, tls.credentials(), options=options)


def sync_channel(address, tls=None):
    """A blocking grpc channel to `address` (host:port)."""
    tls = _tls_of(tls)
    if tls is None:
        return grpc.insecure_channel(address, options=_OPTIONS)
    options = list(_OPTIONS)
    if tls.server_name:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    return grpc.secure_channel(address, tls.credentials(), options=options)


def metadata(token):
    """The call metadata carrying `token` (else $JOBQ_TOKEN), if any."""
    token = token if token is not None else os.environ.get("JOBQ_TOKEN")
    return (("authorization", "Bearer " + token),) if token else ()


class Backoff:
    """Exponential backoff with jitter: the n-th delay is uniform in
    [c/2, c] for c = min(cap, base * 2^n), so that workers cut off together
    by a restart do not all come back in the same instant."""

    def __init__(self, base=0.1, cap=10.0, rand=random.random):
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rand = rand

    def next(self):
        ceiling = min(self.cap, self.base * (2 ** self.attempt))
        self.attempt = min(self.attempt + 1, 30)
        return ceiling * (0.5 + 0.5 * self._rand())

    def reset(self):
        self.attempt = 0
