"""The outbox: deliveries that could not be made, kept on disk until they can.

"Nothing is silently lost": when a receiver stays down past the retry window, answers a
non-retryable error, or the worker stops with deliveries pending, each one is written here as
one JSON file (atomically: temp file, fsync, rename, fsync the directory), with its attempt
history. ``python -m agent outbox replay`` and worker start-up send them again through the
same webhook code, re-signed in the delivery's own wire format (``wire``: HMS with a fresh
timestamp and the same ``X-Webhook-Id``, CallMissed with the same ``X-CallMissed-Delivery``) so
the receiver can verify and deduplicate. Two kinds are held rather than retried blindly:
deliveries a receiver refused with 410 Gone (``gone``: listed, sent again only when the
operator asks for it), and deliveries that must be signed but have no secret (sent once the
operator has a default secret to sign them with, never unsigned).

The files hold the signing secret (replay must re-sign), so the directory is 0700 and the
files 0600. A file that cannot be read is renamed ``*.bad`` and reported, never deleted.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import hashlib
import os
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.contracts.wire import WireFormat
from agent.delivery.attempt import AttemptRecord, Verdict, url_host
from agent.delivery.base import Delivery
from agent.delivery.target_policy import TargetPolicy

if TYPE_CHECKING:
    from agent.delivery.webhook import WebhookSink

log = structlog.get_logger(__name__)

_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,120}$")
_LOCK_NAME = ".replay.lock"


class OutboxBusy(RuntimeError):
    """Another process is replaying this outbox right now."""


class OutboxEntry(BaseModel):
    """One parked delivery as stored on disk (format version 1)."""

    model_config = ConfigDict(extra="ignore")

    version: Literal[1] = 1
    delivery_id: str
    call_id: str
    event_type: str
    seq: int
    url: str | None
    secret: str | None = Field(default=None, repr=False)
    body_text: str | None = Field(default=None, repr=False)
    """The body when it is UTF-8 (JSON always is): readable by an operator, exact on reload."""
    body_base64: str | None = Field(default=None, repr=False)
    """The body otherwise."""
    parked_at: float
    reason: str
    attempts: list[AttemptRecord] = Field(default_factory=list)
    requires_signature: bool = False
    """The document asked for signed delivery: replayed only with a secret, never unsigned."""
    gone: bool = False
    """The receiver answered 410 Gone (to this delivery or an earlier one of its call to the
    same URL): kept and listed, but replayed only when the operator asks (`--include-gone`)."""
    wire: WireFormat = "hms"
    """The format the body is written in, so replay signs it as its receiver verifies (files
    parked before CallMissed deliveries existed are HMS)."""

    @classmethod
    def from_delivery(
        cls,
        delivery: Delivery,
        *,
        reason: str,
        attempts: Sequence[AttemptRecord],
        now: float,
        gone: bool = False,
    ) -> OutboxEntry:
        try:
            text: str | None = delivery.body.decode("utf-8")
            encoded = None
        except UnicodeDecodeError:
            text, encoded = None, base64.b64encode(delivery.body).decode("ascii")
        return cls(
            delivery_id=delivery.delivery_id,
            call_id=delivery.call_id,
            event_type=delivery.event_type,
            seq=delivery.seq,
            url=delivery.url,
            secret=delivery.secret,
            body_text=text,
            body_base64=encoded,
            parked_at=now,
            reason=reason,
            attempts=list(attempts),
            requires_signature=delivery.requires_signature,
            gone=gone,
            wire=delivery.wire,
        )

    def delivery(self) -> Delivery:
        if self.body_text is not None:
            body = self.body_text.encode("utf-8")
        elif self.body_base64 is not None:
            body = base64.b64decode(self.body_base64, validate=True)
        else:
            raise ValueError("outbox entry has no body")
        return Delivery(
            delivery_id=self.delivery_id,
            call_id=self.call_id,
            event_type=self.event_type,
            seq=self.seq,
            body=body,
            url=self.url,
            secret=self.secret,
            requires_signature=self.requires_signature,
            wire=self.wire,
        )


@dataclass(frozen=True, slots=True)
class ParkedDelivery:
    path: Path
    entry: OutboxEntry


@dataclass(frozen=True, slots=True)
class ReplayResult:
    delivered: int
    """Sent and removed from the outbox."""
    failed: int
    """Tried and still not delivered: kept, with the new attempts appended."""
    remaining: int
    """Files left in the outbox after the replay."""
    dropped: int = 0
    """Removed because they have no URL to go to (never parked by the sink itself)."""
    gone: int = 0
    """Answered 410 Gone in this replay (or after such an answer, for the same call and URL):
    kept as ``gone``, not sent again by later replays unless asked."""
    held: int = 0
    """Not tried: parked as ``gone`` (replay with ``include_gone`` to send them), or needing a
    signature that no secret is there to give."""
    skipped: int = 0
    """Not tried: an earlier delivery to the same receiver exhausted its retries in this
    replay. Kept for the next replay."""
    bad: tuple[Path, ...] = field(default_factory=tuple)
    """Unreadable files moved aside as ``*.bad`` during this replay."""


class Outbox:
    """A directory of parked deliveries. Safe to share between processes: file names are
    per delivery id, writes are atomic, and replay holds an exclusive lock."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def path_for(self, delivery_id: str) -> Path:
        # Ids are normally UUIDs; anything else (path separators, dots first) is hashed so a
        # delivery id can never name a file outside the directory.
        safe = _SAFE_ID.match(delivery_id) and not delivery_id.startswith(".")
        name = delivery_id if safe else hashlib.sha256(delivery_id.encode()).hexdigest()
        return self.directory / f"{name}.json"

    def park(
        self,
        delivery: Delivery,
        *,
        reason: str,
        attempts: Sequence[AttemptRecord] = (),
        now: float | None = None,
        gone: bool = False,
    ) -> Path:
        """Write ``delivery`` durably (blocking I/O: call it through a thread from async code).
        Parking the same delivery again replaces its file."""
        entry = OutboxEntry.from_delivery(
            delivery,
            reason=reason,
            attempts=attempts,
            now=time.time() if now is None else now,
            gone=gone,
        )
        return self._write(entry)

    def _write(self, entry: OutboxEntry) -> Path:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        final = self.path_for(entry.delivery_id)
        tmp = self.directory / f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        data = entry.model_dump_json(indent=2).encode("utf-8")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        # The rename is durable only once the directory entry is on disk.
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return final

    def pending(self) -> list[ParkedDelivery]:
        """Parked deliveries in replay order: calls by their oldest parked delivery, each
        call's deliveries by ``seq``. Unreadable files are moved aside (see ``bad_files``)."""
        return self._scan()[0]

    def _scan(self) -> tuple[list[ParkedDelivery], list[Path]]:
        if not self.directory.is_dir():
            return [], []
        parked: list[ParkedDelivery] = []
        bad: list[Path] = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                entry = OutboxEntry.model_validate_json(path.read_bytes())
                entry.delivery()  # the body must decode too
            except FileNotFoundError:
                continue  # removed by a concurrent replay between glob and read
            except (ValidationError, ValueError, OSError) as exc:
                aside = path.with_name(path.name + ".bad")
                os.replace(path, aside)
                log.error("outbox_file_bad", file=path.name, moved_to=aside.name, error=str(exc))
                bad.append(aside)
                continue
            parked.append(ParkedDelivery(path, entry))
        oldest: dict[str, float] = {}
        for item in parked:
            call = item.entry.call_id
            oldest[call] = min(oldest.get(call, item.entry.parked_at), item.entry.parked_at)
        parked.sort(key=lambda p: (oldest[p.entry.call_id], p.entry.call_id, p.entry.seq))
        return parked, bad

    def bad_files(self) -> list[Path]:
        """Files set aside as unreadable; an operator inspects and removes them."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.json.bad"))

    def remove(self, delivery_id: str) -> bool:
        """Delete a delivery's file; False when it was not there."""
        try:
            self.path_for(delivery_id).unlink()
        except FileNotFoundError:
            return False
        return True

    async def replay(
        self,
        policy: TargetPolicy,
        *,
        concurrency: int = 8,
        default_secret: str | None = None,
        include_gone: bool = False,
        **sink_options: Any,
    ) -> ReplayResult:
        """Send every parked delivery again, through a fresh :class:`WebhookSink`.

        ``default_secret`` (the operator's ``VOICE_AGENT_WEBHOOK_SECRET``) signs deliveries that
        must be signed but were parked without a secret; without it they stay parked.
        ``include_gone`` sends deliveries parked because of a 410 too (the operator has fixed
        the receiver); by default they are held.

        ``sink_options`` go to the sink (``attempt_timeout``, ``max_attempts``, ``sleep``...;
        by default 3 attempts in a 30 s window, so a dead receiver does not hold start-up).
        Calls replay side by side (``concurrency`` at a time), each call's deliveries in
        ``seq`` order. Raises :class:`OutboxBusy` when another replay holds the lock.
        """
        from agent.delivery.webhook import WebhookSink

        sink_options.setdefault("max_attempts", 3)
        sink_options.setdefault("retry_window", 30.0)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = await asyncio.to_thread(_lock, self.directory / _LOCK_NAME)
        try:
            parked, bad = await asyncio.to_thread(self._scan)
            sink = WebhookSink(policy, self, **sink_options)
            tally = {"delivered": 0, "failed": 0, "dropped": 0, "skipped": 0, "gone": 0, "held": 0}
            # Receivers found down in this replay: their other deliveries wait for the next
            # replay instead of each spending a full retry window (200 parked deliveries x
            # ~2 s of backoff would hold start-up for minutes), and a call's later events
            # never overtake an earlier one that failed.
            down: set[str] = set()
            gate = asyncio.Semaphore(max(1, concurrency))

            async def replay_call(items: list[ParkedDelivery]) -> None:
                gone: set[str] = set()
                async with gate:
                    for item in items:
                        outcome = await self._replay_one(
                            sink, item, gone, down, default_secret, include_gone
                        )
                        tally[outcome] += 1

            by_call = [list(g) for _, g in groupby(parked, key=lambda p: p.entry.call_id)]
            try:
                await asyncio.gather(*(replay_call(items) for items in by_call))
            finally:
                await sink.aclose(timeout=0)
            remaining = len(await asyncio.to_thread(lambda: list(self.directory.glob("*.json"))))
        finally:
            await asyncio.to_thread(_unlock, lock)
        result = ReplayResult(remaining=remaining, bad=tuple(bad), **tally)
        log.info(
            "outbox_replayed",
            delivered=result.delivered,
            failed=result.failed,
            dropped=result.dropped,
            skipped=result.skipped,
            gone=result.gone,
            held=result.held,
            remaining=result.remaining,
            bad=len(result.bad),
        )
        return result

    async def _replay_one(
        self,
        sink: WebhookSink,
        item: ParkedDelivery,
        gone: set[str],
        down: set[str],
        default_secret: str | None,
        include_gone: bool,
    ) -> str:
        entry = item.entry
        delivery = entry.delivery()
        bound = log.bind(
            call_id=entry.call_id,
            delivery_id=entry.delivery_id,
            event_type=entry.event_type,
            seq=entry.seq,
            host=url_host(entry.url),
        )
        url = delivery.url
        if url is None:
            await asyncio.to_thread(self.remove, entry.delivery_id)
            bound.warning("outbox_dropped", reason="no_url")
            return "dropped"
        if entry.gone and not include_gone:
            bound.debug("outbox_replay_held", reason="gone")
            return "held"
        if url in gone:
            # This replay just got a 410 for this call's URL: held with it, not sent.
            await asyncio.to_thread(self._write, entry.model_copy(update=_GONE_UPDATE))
            bound.warning("outbox_gone", reason="an earlier delivery of the call got 410")
            return "gone"
        if delivery.unsigned_but_required:
            if default_secret is None:
                bound.warning("outbox_replay_held", reason="signature_unavailable")
                return "held"
            delivery = replace(delivery, secret=default_secret)
        receiver = _receiver_key(url)
        if receiver in down:
            bound.debug("outbox_replay_skipped", reason="receiver_down")
            return "skipped"
        result = await sink.send(delivery)
        if result.reason in _RECEIVER_DOWN:
            down.add(receiver)
        if result.verdict is Verdict.DELIVERED:
            await asyncio.to_thread(self.remove, entry.delivery_id)
            bound.info("outbox_delivered", attempts=len(result.attempts))
            return "delivered"
        attempts = [*entry.attempts, *result.attempts]
        if result.verdict is Verdict.GONE:
            gone.add(url)
            gone_entry = entry.model_copy(
                update={
                    "reason": "replay: gone: the receiver answered 410 Gone",
                    "gone": True,
                    "attempts": attempts,
                }
            )
            await asyncio.to_thread(self._write, gone_entry)
            bound.warning("outbox_gone", reason="410")
            return "gone"
        updated = entry.model_copy(
            update={"reason": f"replay: {result.reason}", "attempts": attempts}
        )
        await asyncio.to_thread(self._write, updated)
        bound.warning("outbox_replay_failed", reason=result.reason)
        return "failed"


_GONE_UPDATE = {
    "reason": "replay: gone: not sent, the receiver answered 410 Gone to an earlier delivery",
    "gone": True,
}

_RECEIVER_DOWN = frozenset({"retries_exhausted", "retry_window_ended"})


def _receiver_key(url: str) -> str:
    """Scheme, host and port: the unit that is up or down."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port}"
    except ValueError:
        return url


def _lock(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise OutboxBusy(f"another replay holds {path}") from exc
    return fd


def _unlock(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
