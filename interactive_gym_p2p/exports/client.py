"""A small client of the researcher API (``/p2p/research/api``) of a running server."""

from __future__ import annotations

import json
import logging
import shutil
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class ServerError(Exception):
    """The server could not be reached or refused the request; the message says which."""


@dataclass(frozen=True)
class ResearchClient:
    """Talks to one server with one researcher token."""

    base_url: str
    """The server's root, e.g. ``http://127.0.0.1:8000``."""
    token: str = field(repr=False)
    """Researcher token (sent as ``Authorization: Bearer``)."""
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if urllib.parse.urlsplit(self.base_url).scheme not in ("http", "https"):
            raise ValueError(f"server URL must be http:// or https://, got {self.base_url!r}")

    def _open(self, path: str) -> Any:
        url = self.base_url.rstrip("/") + "/p2p/research/api" + path
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        try:
            return urllib.request.urlopen(req, timeout=self.timeout_s)
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("message", exc.reason)
            except ValueError:
                message = exc.reason
            if exc.code == 404 and path in ("/games", "/participants"):
                message = f"{message} (are the researcher routes on? they need a researcher token configured)"
            raise ServerError(f"{url}: HTTP {exc.code}: {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ServerError(f"{url}: {getattr(exc, 'reason', exc)}") from None

    def games(self) -> list[dict[str, Any]]:
        with self._open("/games") as response:
            return json.loads(response.read())["games"]

    def participants(self) -> list[dict[str, Any]]:
        """Every participant's record (recruitment ids, games, outcome with its code)."""
        with self._open("/participants") as response:
            return json.loads(response.read())["participants"]

    def game(self, game_id: str) -> dict[str, Any]:
        with self._open(f"/games/{urllib.parse.quote(game_id, safe='')}") as response:
            return json.loads(response.read())

    def download(self, path: str, dest: Path) -> Path:
        """Stream one API path to ``dest`` (written to a temp name, renamed when complete)."""
        dest = Path(dest)
        tmp = dest.with_name(dest.name + ".part")
        with self._open(path) as response, tmp.open("wb") as out:
            shutil.copyfileobj(response, out)
        tmp.replace(dest)
        return dest

    def download_export(self, game_id: str, player_index: int, dest: Path, revision: int | None = None) -> Path:
        query = f"?revision={revision}" if revision is not None else ""
        return self.download(f"/games/{urllib.parse.quote(game_id, safe='')}/exports/{player_index}{query}", dest)

    def download_game(self, game_id: str, dest: Path) -> Path:
        return self.download(f"/games/{urllib.parse.quote(game_id, safe='')}/download", dest)

    def download_all(self, dest: Path) -> Path:
        return self.download("/download", dest)

    def download_study(self, dest: Path) -> Path:
        """The study zip: research tables, codebook, raw exports and reports, participant records."""
        return self.download("/study.zip", dest)
