"""Failures and witnesses outside our code: a database that refuses one row's update, and a
provider revocation endpoint that notes what Threadline's database said when it was called.
Nothing of Threadline is patched; the database and the endpoint setting are configured."""

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from django.db import connection, connections

TRIGGER = "threadline_test_refuses_update"


@contextmanager
def updates_refused(model, pk: int) -> Iterator[None]:
    """The database refuses every UPDATE of one row (a full disk, a lost connection, a
    constraint): whatever transaction makes it fails half-way through."""
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(model._meta.pk.column)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"CREATE FUNCTION {TRIGGER}() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'simulated database failure'; END; $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE ON {table} FOR EACH ROW "
                f"WHEN (OLD.{column} = {int(pk)}) EXECUTE FUNCTION {TRIGGER}()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE ON {table} "
                f"WHEN OLD.{column} = {int(pk)} "
                "BEGIN SELECT RAISE(ABORT, 'simulated database failure'); END"
            )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER {TRIGGER} ON {table}")
                cursor.execute(f"DROP FUNCTION {TRIGGER}()")
            else:
                cursor.execute(f"DROP TRIGGER {TRIGGER}")


class RevocationWitness:
    """Stands in front of the sandbox's revocation endpoint: on each call it records what
    `observe()` reads from the database (through its own connection, so it sees only
    committed data), then passes the request on to the sandbox and returns its answer."""

    def __init__(self, forward_to: str, observe: Callable[[], dict]) -> None:
        self.forward_to = forward_to
        self.observe = observe
        self.seen: list[dict] = []
        witness = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    witness.seen.append(witness.observe())
                finally:
                    connections.close_all()
                answer = requests.post(
                    witness.forward_to,
                    data=body,
                    headers={"Content-Type": self.headers.get("Content-Type", "")},
                    timeout=10,
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/revoke"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "RevocationWitness":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def unreachable_url() -> str:
    """An address where nothing listens: the provider's endpoint is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/revoke"
