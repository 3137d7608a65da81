"""Live servers for tests: Django's own live-server thread, with Nagle's algorithm off on
every connection, and an HTTPS variant with its listening socket wrapped in TLS, using the
sandbox's throwaway CA (sandbox/tls.py)."""

import socket
import ssl
from functools import partial

from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread, _StaticFilesHandler


class NoDelayServer(ThreadedWSGIServer):
    """wsgiref sends the status line and headers, then the body, in separate writes: with
    Nagle's algorithm on, the second waits for the client's delayed ACK (40 ms on Linux)
    on every response, which made a 500-message Outlook import take 46 s instead of 13 s.
    gunicorn sets TCP_NODELAY on its connections too."""

    def get_request(self):
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


class _TlsServer(NoDelayServer):
    def __init__(self, *args, ssl_context: ssl.SSLContext, **kwargs):
        super().__init__(*args, **kwargs)
        self.socket = ssl_context.wrap_socket(self.socket, server_side=True)
        # Tell the app its requests arrive over https, as gunicorn with a certificate does.
        self.base_environ["HTTPS"] = "on"


class TlsLiveServerThread(LiveServerThread):
    def __init__(self, *args, ssl_context: ssl.SSLContext, **kwargs):
        # LiveServerThread calls server_class(...): a partial fills in the TLS context.
        self.server_class = partial(_TlsServer, ssl_context=ssl_context)  # type: ignore[assignment]
        super().__init__(*args, **kwargs)


class TlsLiveServer:
    def __init__(self, files) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(files.certificate), str(files.key))
        self.ca_bundle = str(files.ca)
        self.thread = TlsLiveServerThread(
            "127.0.0.1",
            static_handler=_StaticFilesHandler,
            connections_override=None,
            ssl_context=context,
        )
        self.thread.daemon = True
        self.thread.start()
        self.thread.is_ready.wait()
        if self.thread.error:
            raise self.thread.error

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.thread.port}"

    def stop(self) -> None:
        self.thread.terminate()
