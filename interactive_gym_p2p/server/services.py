"""The services an experiment needs beside the web server, wired into its ServerConfig.

``ExperimentServices`` starts the TURN server (the embedded one by default, in its own
process: never asyncio inside the eventlet server), creates the validation export store and
returns a copy of the ServerConfig whose seams are connected:

- ``ice_servers_provider``: the TURN/STUN URLs with fresh time-limited credentials per participant;
- ``on_game_created``: registers every game with the export store (so uploads know the players);
- ``blueprints``: the validation upload and researcher routes.

It is a context manager, so a demo or a test stops the TURN process on every exit path.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from .config import ServerConfig, ServerContext

logger = logging.getLogger(__name__)

TurnMode = Literal["embedded", "external", "none"]


@dataclass(frozen=True)
class TurnSettings:
    """Which TURN server participants get, and how."""

    mode: TurnMode = "embedded"
    """embedded: start this package's TURN server; external: use ``urls`` (coturn); none: no ICE servers."""
    host: str = "127.0.0.1"
    """Interface the embedded server binds (and the address put in its URLs)."""
    port: int = 3478
    """UDP and TCP port of the embedded server (0: any free port)."""
    realm: str = "interactive-gym-p2p"
    """TURN realm; must match coturn's ``realm`` in external mode."""
    secret: str | None = None
    """Shared secret; None: ``$IGP2P_TURN_SECRET`` or a random one (embedded mode only)."""
    allow_loopback: bool = True
    """Embedded server may relay to loopback peers (two browsers on one machine)."""
    allow_cidrs: tuple[str, ...] = ()
    """Extra peer ranges the embedded server may relay to (e.g. the LAN address of this machine)."""
    urls: tuple[str, ...] = ()
    """External mode: the coturn URLs, e.g. ``turn:turn.example.org:3478?transport=udp``."""
    ttl_s: int = 3600
    """Lifetime of each participant's TURN credential."""

    def check(self) -> None:
        if self.mode not in ("embedded", "external", "none"):
            raise ValueError(f"TurnSettings.mode must be 'embedded', 'external' or 'none', got {self.mode!r}")
        if self.mode == "external" and (not self.urls or not self.secret):
            raise ValueError("TurnSettings: external mode needs urls and the shared secret of the TURN server")
        if not 60 <= self.ttl_s <= 7 * 24 * 3600:
            raise ValueError(f"TurnSettings.ttl_s must be from 60 s to 7 days, got {self.ttl_s!r}")


class ExperimentServices:
    """Start TURN and the export store; hand back a fully wired ServerConfig."""

    def __init__(self, config: ServerConfig, turn: TurnSettings | None = None) -> None:
        self.config = config
        self.turn_settings = turn if turn is not None else TurnSettings()
        self.turn_settings.check()
        self.turn: Any = None  # EmbeddedTurn while running
        self.store: Any = None  # ExportStore
        self._urls: list[str] = []
        self._secret: str = ""

    @property
    def exports_dir(self) -> Path:
        return Path(self.config.data_dir) / "exports"

    def start(self) -> ServerConfig:
        # Imported here: importing the server package must stay cheap and side-effect free.
        from ..turn import credentials
        from ..turn.embedded import EmbeddedTurn
        from ..validation.routes import create_validation_blueprint
        from ..validation.storage import ExportStore, GameRecord

        settings = self.turn_settings
        if settings.mode == "embedded":
            self._secret = credentials.resolve_secret(settings.secret)
            self.turn = EmbeddedTurn(
                settings.host,
                settings.port,
                self._secret,
                settings.realm,
                allow_loopback=settings.allow_loopback,
                allow_cidrs=settings.allow_cidrs,
            ).start()
            self._urls = list(self.turn.urls)
            logger.info("embedded TURN server ready: %s", ", ".join(self._urls))
        elif settings.mode == "external":
            self._secret = settings.secret or ""
            self._urls = list(settings.urls)

        self.store = ExportStore(self.exports_dir)
        store = self.store
        previous_hook = self.config.on_game_created

        def on_game_created(info: Any) -> None:
            store.register_game(GameRecord.from_info(info))
            if previous_hook is not None:
                previous_hook(info)

        def validation_routes(ctx: ServerContext) -> Any:
            socketio = ctx.extra.get("socketio")
            return create_validation_blueprint(
                store, ctx.upload_tokens, ctx.researcher_token, data_root=ctx.data_dir,
                background=socketio.start_background_task if socketio is not None else None,
                pause=(lambda: socketio.sleep(0)) if socketio is not None else None,
            )

        return dataclasses.replace(
            self.config,
            ice_servers_provider=self._provider(credentials.ice_servers),
            on_game_created=on_game_created,
            blueprints=(*self.config.blueprints, validation_routes),
        )

    def _provider(self, ice_servers: Callable[..., list[dict]]) -> Callable[[str], list[dict]]:
        if not self._urls:
            return lambda participant_id: []
        urls, secret, ttl = list(self._urls), self._secret, self.turn_settings.ttl_s
        return lambda participant_id: ice_servers(urls, secret, participant_id, ttl)

    def stop(self) -> None:
        if self.turn is not None:
            self.turn.stop()
            self.turn = None

    def __enter__(self) -> ServerConfig:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
