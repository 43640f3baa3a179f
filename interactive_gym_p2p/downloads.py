"""Downloads with a checksum: every byte that reaches the cache was hashed on the way in.

``http(s)://`` and ``file://`` URLs and plain paths are all sources (a lab without internet
copies the tarball or the package files over). A file is written to ``<name>.part`` and
renamed only after its digest matched, so a failed or corrupted download never replaces a
good file.
"""

from __future__ import annotations

import base64
import hashlib
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO

USER_AGENT = "interactive-gym-p2p (fetch)"
TIMEOUT_S = 60.0


class DownloadError(RuntimeError):
    """A source could not be read, or what it gave does not match its checksum."""


def is_url(source: str) -> bool:
    return urllib.parse.urlsplit(source).scheme in ("http", "https", "file")


def join(base: str, name: str) -> str:
    """``name`` inside ``base`` (a URL or a folder path)."""
    if is_url(base):
        return base.rstrip("/") + "/" + urllib.parse.quote(name)
    return str(Path(base) / name)


def open_source(source: str, accept: str | None = None) -> IO[bytes]:
    """A readable stream of a URL or a local path."""
    if not is_url(source):
        try:
            return Path(source).expanduser().open("rb")
        except OSError as exc:
            raise DownloadError(f"cannot read {source}: {exc.strerror or exc}") from None
    request = urllib.request.Request(source, headers={"User-Agent": USER_AGENT, **({"Accept": accept} if accept else {})})
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_S)  # noqa: S310 (scheme checked above)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{source}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot reach {source}: {reason}") from None


def read_bytes(source: str, accept: str | None = None, limit: int = 64 << 20) -> bytes:
    with open_source(source, accept) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise DownloadError(f"{source} is larger than {limit >> 20} MiB")
    return data


def sri_to_hex(integrity: str) -> tuple[str, str]:
    """``(algorithm, hex digest)`` of a Subresource Integrity string as npm writes it
    (``sha512-<base64>``)."""
    algorithm, _, b64 = integrity.partition("-")
    if algorithm not in ("sha512", "sha384", "sha256", "sha1") or not b64:
        raise DownloadError(f"not an integrity string: {integrity!r}")
    return algorithm, base64.b64decode(b64).hex()


def download(source: str, dest: Path, algorithm: str, expected_hex: str, *, what: str) -> int:
    """Copy ``source`` to ``dest`` if its ``algorithm`` digest is ``expected_hex``; returns the
    size. Raises DownloadError (and leaves ``dest`` as it was) otherwise."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.new(algorithm)
    size = 0
    try:
        with open_source(source) as stream, part.open("wb") as out:
            while True:
                chunk = stream.read(1 << 20)
                if not chunk:
                    break
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != expected_hex.lower():
            raise DownloadError(f"{what} from {source} does not match its pinned {algorithm.upper()} "
                                f"(got {digest.hexdigest()[:16]}..., expected {expected_hex[:16]}...): refused")
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return size


def copy_verified(stream: IO[bytes], dest: Path, sha256_hex: str, *, what: str) -> None:
    """Write ``stream`` to ``dest`` only if its SHA-256 is ``sha256_hex`` (same rules as download)."""
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    try:
        with part.open("wb") as out:
            while True:
                chunk = stream.read(1 << 20)
                if not chunk:
                    break
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256_hex:
            raise DownloadError(f"{what} does not match its pinned SHA-256: refused")
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
