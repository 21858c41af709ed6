"""The commands that need no key: ``demo`` (a real edit against a local fake) and ``serve-fake``.

Both need the ``cli`` extra (the fake validates with jsonschema and edits with Pillow).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .._client import Client
from .._config import ConfigurationError
from .._requests import WanImageToImage
from ._commands import Session, run_edit

if TYPE_CHECKING:
    from ..testing.server import FakeServer

__all__ = ["demo", "serve_fake"]


def _fake_server(duration: float, port: int = 0) -> tuple[FakeServer, str, bytes]:
    """A loopback fake whose tasks take ``duration`` s, hosting a sample image: (server, its URL, its bytes)."""
    try:
        from ..testing.fake import FakeEvoLink, TaskPlan
        from ..testing.render import sample_scene
        from ..testing.server import FakeServer
    except ImportError as error:
        raise ConfigurationError(
            f"this command needs the cli extra ({error.name} is missing): pip install 'evolink-images[cli]'"
        ) from None
    server = FakeServer(FakeEvoLink(clock=time.monotonic, plan=TaskPlan(duration=duration)), port=port)
    image = sample_scene()
    return server, server.fake.host_input("sample.png", image), image


def demo(session: Session, args: argparse.Namespace) -> int:
    """``demo``: a fake EvoLink on loopback; a local picture uploaded, edited for real, the results saved."""
    out = Path(args.out)
    server, _, image = _fake_server(duration=4.0)
    with server:
        out.mkdir(parents=True, exist_ok=True)
        picture = out / "input.png"
        picture.write_bytes(image)
        print(f"A fake EvoLink is serving on {server.base_url} (no key, no network).", file=sys.stderr)
        print(
            f"Input image: {picture} (a local file: uploaded first); asking for {args.n} x {args.prompt!r}.",
            file=sys.stderr,
        )
        client = Client(server.fake.api_key, base_url=server.base_url)
        session.client_factory = lambda: client
        request = WanImageToImage(args.prompt, [picture], n=args.n)
        uploaded = client.upload(picture)  # what submit would do; shown here so the demo can say where it went
        print(f"Uploaded to {uploaded.file_url} (expires {uploaded.expires_at:%Y-%m-%d %H:%M} UTC).", file=sys.stderr)
        return run_edit(session, request, out=out, timeout=60.0)


def serve_fake(session: Session, args: argparse.Namespace) -> int:
    """``serve-fake``: serve the fake until Ctrl-C or SIGTERM."""
    server, sample, _ = _fake_server(duration=args.duration, port=args.port)
    with server:
        signal.signal(signal.SIGTERM, _interrupt)  # before the lines that say SIGTERM stops it
        try:
            print(f"Fake EvoLink on {server.base_url}", flush=True)
            print(f"  API key:      {server.fake.api_key}  (the fake's own; it works nowhere else)", flush=True)
            print(f"  sample image: {sample}", flush=True)
            print(f"  file host:    {server.base_url}/api/v1/files/ (uploads of local images, the quota)", flush=True)
            print("Ctrl-C (or SIGTERM) stops it.", flush=True)
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops the fake as Ctrl-C does (a service manager or a test sends it)."""
    raise KeyboardInterrupt
