"""The HTTP protocol ``atlas-sa serve`` gives uvicorn, below the ASGI app: header read time (408 past the header
timeout) and header size (431, or 414 for the request target). The body's limits are the app's
(:mod:`atlas_sa.kit.bodies`).

uvicorn closes idle keep-alive connections but has no read timeout for a request's headers: a client that trickles
them holds a connection for as long as it likes. No ASGI code runs before the headers are complete, so
:func:`http_protocol` subclasses uvicorn's httptools protocol with a timer armed when a connection opens
and when a request's first byte arrives, disarmed when its headers are complete.

Header sizes are checked as the bytes arrive, so a huge header costs no memory: httptools (llhttp) has no limit of its
own and joins a field's pieces in one growing string, so the protocol feeds it at most what is left of the limit and
refuses before feeding more. A request the parser refuses (malformed framing) gets a 400 in Atlas's form rather than
uvicorn's plain text; every such answer waits for the responses to earlier, pipelined requests, and a request cut
off mid-body is abandoned: its application task sees the client gone and stops without logging. Each answer is
observed as the app's are (:mod:`atlas_sa.kit.observe`: a request id on it, the request metrics, the access log),
once: by the app's observer for a request the app was running, here for any other.

The same protocol closes connections in stages (RFC 9112 §9.6), which matters most for those limits: a 408 or 413
usually goes to a client still sending. Closed at once, a socket with the client's next bytes unread answers them
with a reset, and the reset makes the client's TCP stack drop the response it had not read yet. So the server sends
its FIN after the response, reads and discards whatever still arrives, and closes when the client does or after
:data:`LINGER_SECONDS`.
"""

from __future__ import annotations

import asyncio
from time import perf_counter
from typing import Any, cast

from atlas_sa.errors import (
    AtlasError,
    MalformedRequest,
    RequestHeaderFieldsTooLarge,
    RequestTimeout,
    UriTooLong,
)
from atlas_sa.kit.bodies import seconds
from atlas_sa.kit.negotiation import RequestFormat
from atlas_sa.kit.observe import ANSWERED_BELOW, REQUEST_ID_HEADER, observe_answer_below, request_id_of
from atlas_sa.kit.rendering import render_error
from atlas_sa.settings import Settings


def wire_response(error: AtlasError, request_id: str) -> bytes:
    """``error`` as a whole HTTP/1.1 response that ends the connection, for answers given below the ASGI app: the
    app's own renderer, so the body and headers are those of the same error raised in a route."""
    response = render_error(error, RequestFormat())
    lines = [f"HTTP/1.1 {error.status} {error.reason}".encode("ascii")]
    lines += [name + b": " + value for name, value in response.raw_headers if name != b"connection"]
    lines.append(REQUEST_ID_HEADER + b": " + request_id.encode("latin-1"))
    return b"\r\n".join([*lines, b"connection: close", b"", response.body])


LINGER_SECONDS = 2.0


class LingeringTransport:
    """A connection's transport whose ``close()`` half-closes, drains and only then closes (see the module)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self.lingering = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        if self.is_closing():
            return
        transport = self._transport
        # A response still buffered means a client that does not read: it is closed once the buffer is sent. (The
        # FIN would otherwise be sent from asyncio's write callback, where a client gone meanwhile raises unhandled.)
        if not transport.can_write_eof() or transport.get_write_buffer_size():
            transport.close()
            return
        self.lingering = True
        try:
            # Sent after the buffered response; the transport keeps reading, and closes by itself at the client's EOF.
            transport.write_eof()
        except OSError:
            # ENOTCONN: the client has already gone (it closed, and our last bytes drew its reset). Nothing to drain.
            transport.close()
            return
        transport.resume_reading()  # drained even if flow control had paused it
        self._loop.call_later(LINGER_SECONDS, transport.close)


class _Refused(Exception):
    """Raised in a parser callback to stop parsing a request that broke a limit; httptools reports it as a parser
    error, which uvicorn answers through ``send_400_response``."""


def http_protocol(settings: Settings) -> Any:
    """uvicorn's ``http`` protocol class with the header deadline and size limits of ``settings`` and Atlas-form
    answers to malformed requests. ``"auto"`` (none of that) where httptools, the protocol this extends, is not
    installed."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # noqa: PLC0415 - serve only
    except ImportError:  # pragma: no cover - httptools is a locked dependency
        return "auto"

    timeout = settings.header_timeout
    head_limit = settings.max_header_bytes
    field_limit = settings.max_header_field_bytes
    fields_limit = settings.max_header_fields
    url_limit = settings.max_url_bytes
    access_log = settings.access_log

    class AtlasHttpProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None
        _lingering: LingeringTransport
        # Reading a request's line and headers (else its body), whether a byte of that head has come, when its wait
        # began, and how many fields it has sent (trailers included).
        _in_head = True
        _head_begun = False
        _head_started = 0.0
        _fields = 0
        # Bytes fed to the parser since it last delivered something (headers complete, body bytes, a chunk's size,
        # the message's end): the head so far, or the framing (chunk extensions, trailers) between body bytes.
        _unparsed = 0
        _progress = False
        # Once a request is refused (or upgraded), nothing more is read; ``_deferred`` holds the refusal while
        # earlier pipelined requests are still being answered.
        _stopped = False
        _refusal: AtlasError | None = None
        _deferred: bytes | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self._lingering = LingeringTransport(transport, self.loop)
            super().connection_made(cast("asyncio.Transport", self._lingering))
            self._arm()

        def data_received(self, data: bytes) -> None:
            # Once the response is out, or a request refused, what the client still sends is dropped.
            view = memoryview(data)
            while view and not (self._stopped or self._lingering.lingering):
                room = head_limit - self._unparsed
                part, view = view[:room], view[room:]
                self._progress = False
                super().data_received(part)  # type: ignore[arg-type] # httptools reads any buffer
                self._unparsed = 0 if self._progress else self._unparsed + len(part)
                if self._unparsed >= head_limit and not self._stopped:
                    self._refuse(RequestHeaderFieldsTooLarge(head_limit, "bytes in all"))

        # --- parser callbacks ----------------------------------------------------------------------------------

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._fields = 0
            self._head_begun = True
            if self._header_timer is None:
                self._arm()

        def on_url(self, url: bytes) -> None:
            if len(self.url) + len(url) > url_limit:
                self._stop(UriTooLong(url_limit))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._fields += 1
            if self._fields > fields_limit:
                self._stop(RequestHeaderFieldsTooLarge(fields_limit, "fields"))
            if len(name) + len(value) > field_limit:
                self._stop(RequestHeaderFieldsTooLarge(field_limit, "bytes per field"))
            if self._in_head:
                # Trailer fields are counted but dropped: uvicorn would append them to the headers the application
                # has already read, and no route uses them (RFC 9110 §6.5.1 lets a recipient discard them).
                super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()
            self._in_head = False
            self._progress = True
            if self.parser.should_upgrade():
                # llhttp stops framing at an Upgrade (or CONNECT) request, its body included, as if the protocol
                # switched, which never happens here: nothing after it can be framed safely, so the request is
                # answered as HTTP and the connection ends with that answer.
                self.cycle.keep_alive = False
                self._stopped = True

        def on_body(self, body: bytes) -> None:
            self._progress = True
            super().on_body(body)

        def on_chunk_header(self) -> None:
            self._progress = True

        def on_chunk_complete(self) -> None:
            self._progress = True

        def on_message_complete(self) -> None:
            self._in_head = self._progress = True
            self._head_begun = False
            super().on_message_complete()

        # --- answers below the application ---------------------------------------------------------------------

        def send_400_response(self, msg: str) -> None:
            # uvicorn's answer to a parser error (logged by it as a warning), in Atlas's form; or the limit a
            # callback stopped the parser for.
            self._refuse(self._refusal or MalformedRequest())

        def _unsupported_upgrade_warning(self) -> None:
            # ``serve`` runs without WebSocket support (no route speaks it): an Upgrade header is ignored and the
            # request answered as HTTP (RFC 9110 §7.8), which is no cause for uvicorn's install-a-library warning.
            pass

        def on_response_complete(self) -> None:
            last = not self.pipeline
            super().on_response_complete()
            if last and self._deferred is not None:
                self._send_and_close(self._deferred)

        def _stop(self, error: AtlasError) -> None:
            self._refusal = error
            raise _Refused

        def _refuse(self, error: AtlasError) -> None:
            """Answer ``error`` and end the connection, after the responses still owed to earlier requests."""
            self._stopped = True
            self._disarm()
            cycle = self.cycle
            if self._in_head:
                # A new request, perhaps after ones still being answered; its scope as far as its head came.
                scope = self.scope if self._head_begun else {"client": self.client}
                response = self._observed(error, scope)
                if cycle is None or cycle.response_complete:
                    self._send_and_close(response)
                else:
                    self._deferred = response
            elif cycle.response_complete:
                self._send_and_close(self._observed(error, cycle.scope))  # answered, then its body broke
            elif self.pipeline and self.pipeline[0][0] is cycle:
                self.pipeline.popleft()  # this request's body broke before its turn came: it never runs
                self._deferred = self._observed(error, cycle.scope)
            elif not cycle.response_started:
                # This request's body broke while its application task reads it: the task sees the client gone,
                # and the app's observer counts this answer as the request's.
                cycle.scope[ANSWERED_BELOW] = error.status  # type: ignore[literal-required]
                response = wire_response(error, request_id_of(cast("dict[str, Any]", cycle.scope)))
                cycle.disconnected = True
                cycle.message_event.set()
                self._send_and_close(response)
            else:
                cycle.keep_alive = False  # answered already (mid-body): the connection ends with that response

        def _observed(self, error: AtlasError, scope: Any) -> bytes:
            """``error`` as the response to a request the app never ran, observed as the app's are."""
            request_id = observe_answer_below(scope, error.status, self._head_started, access_log_enabled=access_log)
            return wire_response(error, request_id)

        def _send_and_close(self, response: bytes) -> None:
            if not self.transport.is_closing():
                self.transport.write(response)
                self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        # --- header deadline -----------------------------------------------------------------------------------

        def _arm(self) -> None:
            self._head_started = perf_counter()
            self._header_timer = self.loop.call_later(timeout, self._headers_timed_out)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_timed_out(self) -> None:
            self._header_timer = None
            if self.cycle is not None and not self.cycle.response_complete:
                # Still answering an earlier request, reading paused meanwhile: the wait is ours, not the client's.
                self._arm()
                return
            self._refuse(RequestTimeout(seconds(timeout)))

    return AtlasHttpProtocol
