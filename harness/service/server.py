"""Running the service: the address bound first (a port in use is one line, not a traceback from inside the server),
then uvicorn on that socket until Ctrl-C or SIGTERM.

uvicorn rewrites no client address from proxy headers here: the peer is who connected, so only a client on this machine
can submit without a token, and a request a reverse proxy forwarded is never taken for one (harness/service/guard.py).
No access log: the service keeps no client address anywhere.
"""

from __future__ import annotations

import socket

from harness.errors import MeekError
from harness.service.app import Settings, create_app


def bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise MeekError(f"--host {host}: {error.strerror}") from None
    family, _, _, _, address = infos[0]
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
    except OSError as error:
        listener.close()
        raise MeekError(f"cannot listen on {host}:{port}: {error.strerror or error} (choose another --port)") from None
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener


def serve(settings: Settings, listener: socket.socket) -> None:
    """Serve until stopped (uvicorn handles SIGINT and SIGTERM: it finishes the requests in flight, then returns)."""
    import uvicorn

    config = uvicorn.Config(
        create_app(settings),
        proxy_headers=False,
        access_log=False,
        log_level="warning",
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    try:
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        listener.close()
