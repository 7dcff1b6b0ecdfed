"""Who may talk to the chief: a shared token on every call, and TLS where the network is not private.

keras-tuner's chief serves its oracle on an open gRPC port: anyone who
reaches it could end trials with made-up scores or take trials away. autoarch
adds two things keras-tuner lacks:

- **A shared token.** Every call to the chief carries the token of
  `TOKEN_ENV` as gRPC metadata, and the chief refuses a call without the
  right one (``UNAUTHENTICATED``, logged with the method called, quoted and
  cut short, at most `REFUSAL_LOG_LINES` lines every `REFUSAL_LOG_SECONDS`,
  then a count of the others); the search goes on unaffected. A chief
  started without the variable makes a random token and logs it: workers
  must then be given it.
- **TLS**, optional. With `TLS_CERT_ENV` and `TLS_KEY_ENV` (PEM files) the
  chief listens with TLS only; workers given `TLS_CERT_ENV` (the chief's
  certificate, or the authority that signed it) connect with TLS and check
  the chief's certificate against it. Without TLS the token travels in clear
  text, so it protects against stray and careless clients on a private
  network, not against someone who can read its traffic.
"""

import collections
import hmac
import logging
import os
import secrets
import threading
import time

import grpc

__all__ = ["TOKEN_ENV", "TLS_CERT_ENV", "TLS_KEY_ENV", "TOKEN_HEADER", "REFUSAL_LOG_SECONDS", "REFUSAL_LOG_LINES",
           "quoted", "check_settings", "chief_token", "TokenCheck", "add_port", "channel"]

TOKEN_ENV = "AUTOARCH_CHIEF_TOKEN"
"""Environment variable holding the token shared by the chief and every worker."""

TLS_CERT_ENV = "AUTOARCH_CHIEF_TLS_CERT"
"""The chief's certificate chain (PEM file). The chief serves it; workers trust it (or the authority in it)."""

TLS_KEY_ENV = "AUTOARCH_CHIEF_TLS_KEY"
"""The chief's private key (PEM file); read by the chief only."""

TOKEN_HEADER = "autoarch-chief-token"
"""The gRPC metadata key that carries the token."""

REFUSAL_LOG_SECONDS = 60.0
REFUSAL_LOG_LINES = 5
"""The chief logs at most this many refused calls every `REFUSAL_LOG_SECONDS`; the next line it logs
counts the refusals it did not."""

_METHOD_CHARACTERS = 80

log = logging.getLogger("autoarch")


def check_settings(role):
    """Refuse TLS settings that cannot work for ``role`` (``"chief"`` or ``"worker"``), before any work.

    Raises:
        ValueError: the chief has only one of `TLS_CERT_ENV` and `TLS_KEY_ENV`,
            or a file they name is missing.
    """
    certificate, key = os.environ.get(TLS_CERT_ENV), os.environ.get(TLS_KEY_ENV)
    if role == "chief" and bool(certificate) != bool(key):
        raise ValueError(f"the chief serves TLS only with both {TLS_CERT_ENV} and {TLS_KEY_ENV} set")
    for variable, path in ((TLS_CERT_ENV, certificate), (TLS_KEY_ENV, key if role == "chief" else None)):
        if path and not os.path.isfile(path):
            raise ValueError(f"{variable}={path!r} is not a file")


def chief_token():
    """The token the chief checks: `TOKEN_ENV`'s, or a new random one, which it logs and sets in `TOKEN_ENV`.

    Setting it makes any process this one starts inherit it.
    """
    token = os.environ.get(TOKEN_ENV)
    if not token:
        token = secrets.token_urlsafe(24)
        os.environ[TOKEN_ENV] = token
        log.warning("no %s was set: the chief made one; start every worker with %s=%s", TOKEN_ENV, TOKEN_ENV, token)
    return token


class TokenCheck(grpc.ServerInterceptor):
    """The chief's check of every call: the right token, or ``UNAUTHENTICATED``.

    Refusals are logged with the method quoted by `ascii` and cut to 80
    characters (a caller without the token cannot write a line of its own into
    the log), at most `REFUSAL_LOG_LINES` times every `REFUSAL_LOG_SECONDS`.

    Args:
        token: the token a call must carry under `TOKEN_HEADER`.
        clock: returns the time in seconds (default `time.monotonic`).
    """

    def __init__(self, token, clock=time.monotonic):
        self._token = token.encode()
        self._clock = clock
        self._lock = threading.Lock()
        self._window_start = None
        self._logged = 0
        self._unlogged = 0

        def refuse(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, f"a call to the chief needs the right {TOKEN_ENV}")

        self._refusal = grpc.unary_unary_rpc_method_handler(refuse)

    def intercept_service(self, continuation, handler_call_details):
        """Pass a call with the right token on; answer any other with ``UNAUTHENTICATED``."""
        given = dict(handler_call_details.invocation_metadata or ()).get(TOKEN_HEADER, "")
        if hmac.compare_digest(given.encode(), self._token):
            return continuation(handler_call_details)
        self._log_refusal(handler_call_details.method, "a wrong token" if given else "no token")
        return self._refusal

    def _log_refusal(self, method, reason):
        with self._lock:
            now = self._clock()
            if self._window_start is None or now - self._window_start >= REFUSAL_LOG_SECONDS:
                self._window_start, self._logged = now, 0
            if self._logged >= REFUSAL_LOG_LINES:
                self._unlogged += 1
                return
            self._logged += 1
            unlogged, self._unlogged = self._unlogged, 0
        more = f" ({unlogged} more refused since the last line)" if unlogged else ""
        log.warning("the chief refused a call to %s: %s%s", quoted(method, _METHOD_CHARACTERS), reason, more)


def quoted(text, limit):
    """``text`` quoted by `ascii` and cut to ``limit`` characters: what a caller sends, safe to log
    (it cannot start a line of its own, nor fill the log)."""
    text = str(text)
    return ascii(text[:limit]) + ("..." if len(text) > limit else "")


def add_port(server, address):
    """Listen on ``address``: with TLS when `TLS_CERT_ENV` and `TLS_KEY_ENV` are set; returns the bound port.

    Raises:
        ValueError: a TLS file cannot be read (see `check_settings`).
    """
    check_settings("chief")
    certificate, key = os.environ.get(TLS_CERT_ENV), os.environ.get(TLS_KEY_ENV)
    if not certificate:
        return server.add_insecure_port(address)
    credentials = grpc.ssl_server_credentials([(_read(key, TLS_KEY_ENV), _read(certificate, TLS_CERT_ENV))])
    return server.add_secure_port(address, credentials)


def channel(address):
    """A channel to the chief at ``address``: TLS when `TLS_CERT_ENV` is set, the token on every call."""
    certificate = os.environ.get(TLS_CERT_ENV)
    if certificate:
        opened = grpc.secure_channel(address, grpc.ssl_channel_credentials(_read(certificate, TLS_CERT_ENV)))
    else:
        opened = grpc.insecure_channel(address)
    token = os.environ.get(TOKEN_ENV)
    return grpc.intercept_channel(opened, _WithToken(token)) if token else opened


def _read(path, variable):
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as error:
        raise ValueError(f"{variable}={path!r} cannot be read: {error}") from error


class _CallDetails(
    collections.namedtuple("_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready",
                                            "compression")),
    grpc.ClientCallDetails,
):
    pass


class _WithToken(grpc.UnaryUnaryClientInterceptor):
    """Adds the token to every call a worker makes."""

    def __init__(self, token):
        self._token = token

    def intercept_unary_unary(self, continuation, client_call_details, request):
        details = client_call_details
        metadata = [*(details.metadata or ()), (TOKEN_HEADER, self._token)]
        return continuation(
            _CallDetails(details.method, details.timeout, metadata, details.credentials, details.wait_for_ready,
                         details.compression),
            request,
        )
