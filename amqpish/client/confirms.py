"""Publisher confirms: one :class:`Confirmation` per publish on a channel in confirm mode.

The broker numbers the publishes of a confirm-mode channel 1, 2, 3, ... and answers
with basic.ack / basic.nack carrying the highest number it settles (``multiple``) or
just one. :class:`ConfirmTracker` keeps the unsettled ones in publish order (an
``OrderedDict``, so settling a prefix is a pop from the front) and bounds their number:
publishers wait while ``window`` publishes are unsettled.

basic.return carries no publish number. RabbitMQ sends the return of an unroutable
mandatory message *before* the ack that settles it, so returns are held until the next
ack and then matched, in publish order, to the settled mandatory publishes with the
same exchange and routing key.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio
from trio.lowlevel import ParkingLot

from .errors import AMQPError, MessageNacked, MessageReturned, PublishError

if TYPE_CHECKING:
    from amqpish.codec.properties import BasicProperties

__all__ = ["ConfirmTracker", "Confirmation", "Returned"]

Check = Callable[[], None]
"""Raises the channel's error if it is closed."""


class Returned:
    """A basic.return not yet matched to its publish."""

    __slots__ = ("body", "exchange", "properties", "reply_code", "reply_text", "routing_key")

    def __init__(
        self,
        reply_code: int,
        reply_text: str,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: BasicProperties,
    ) -> None:
        self.reply_code = reply_code
        self.reply_text = reply_text
        self.exchange = exchange
        self.routing_key = routing_key
        self.body = body
        self.properties = properties


class Confirmation:
    """The outcome of one publish; ``await c.wait()`` raises if it was nacked or returned.

    On a channel without confirm mode the confirmation is settled (``ok``) at once:
    nothing more will be known about the message.
    """

    __slots__ = (
        "_done",
        "_error",
        "_event",
        "_waited",
        "exchange",
        "mandatory",
        "routing_key",
        "seq",
    )

    def __init__(self, seq: int, exchange: str, routing_key: str, mandatory: bool) -> None:
        self.seq = seq
        self.exchange = exchange
        self.routing_key = routing_key
        self.mandatory = mandatory
        self._done = seq == 0
        self._error: PublishError | AMQPError | None = None
        self._event: trio.Event | None = None
        self._waited = False

    @property
    def done(self) -> bool:
        return self._done

    @property
    def error(self) -> PublishError | AMQPError | None:
        """None when confirmed; MessageNacked / MessageReturned, or the channel's error."""
        return self._error

    async def wait(self) -> None:
        """Wait for the broker's verdict; raise it if the message was not accepted."""
        if not self._done:
            self._waited = True
            if self._event is None:
                self._event = trio.Event()
            try:
                await self._event.wait()
            except BaseException:
                self._waited = False
                raise
        else:
            await trio.lowlevel.cancel_shielded_checkpoint()
        err = self._error
        if err is not None:
            raise err.fresh() if isinstance(err, AMQPError) else err

    def _settle(self, error: PublishError | AMQPError | None) -> None:
        self._done = True
        self._error = error
        if self._event is not None:
            self._event.set()

    def __repr__(self) -> str:
        state = (
            "pending" if not self._done else ("ok" if self._error is None else repr(self._error))
        )
        return f"<Confirmation {self.seq} {state}>"


class ConfirmTracker:
    """The unsettled publishes of one confirm-mode channel."""

    def __init__(self, window: int) -> None:
        self.window = max(1, window)
        self._seq = 0
        self._unsettled: OrderedDict[int, Confirmation] = OrderedDict()
        self._returns: deque[Returned] = deque()
        self._unreported: list[Confirmation] = []
        self._lot = ParkingLot()

    @property
    def full(self) -> bool:
        return len(self._unsettled) >= self.window

    @property
    def last_seq(self) -> int:
        return self._seq

    async def wait_for_room(self, check: Check) -> None:
        while self.full:
            await self._lot.park()
            check()

    def add(self, exchange: str, routing_key: str, mandatory: bool, waited: bool) -> Confirmation:
        self._seq += 1
        c = Confirmation(self._seq, exchange, routing_key, mandatory)
        c._waited = waited
        self._unsettled[self._seq] = c
        return c

    def on_return(self, returned: Returned) -> None:
        self._returns.append(returned)

    def on_ack(self, tag: int, multiple: bool, nack: bool) -> None:
        settled = self._pop(tag, multiple)
        for c in settled:
            err: PublishError | None = None
            if nack:
                err = MessageNacked(c.seq)
            elif c.mandatory and self._returns:
                err = self._match_return(c)
            self._finish(c, err)
        if not self._unsettled:
            self._returns.clear()
        self._lot.unpark_all()

    def _pop(self, tag: int, multiple: bool) -> list[Confirmation]:
        unsettled = self._unsettled
        if not multiple:
            c = unsettled.pop(tag, None)
            return [c] if c is not None else []
        out = []
        while unsettled:
            seq = next(iter(unsettled))
            if seq > tag:
                break
            out.append(unsettled.pop(seq))
        return out

    def _match_return(self, c: Confirmation) -> MessageReturned | None:
        for i, r in enumerate(self._returns):
            if r.exchange == c.exchange and r.routing_key == c.routing_key:
                del self._returns[i]
                return MessageReturned(
                    c.seq,
                    r.reply_code,
                    r.reply_text,
                    r.exchange,
                    r.routing_key,
                    r.body,
                    r.properties,
                )
        return None

    def _finish(self, c: Confirmation, err: PublishError | AMQPError | None) -> None:
        if err is not None and not c._waited:
            self._unreported.append(c)
        c._settle(err)

    def fail_all(self, exc: AMQPError) -> None:
        """The channel closed: every unsettled publish fails with its error."""
        for c in self._unsettled.values():
            self._finish(c, exc)
        self._unsettled.clear()
        self._returns.clear()
        self._lot.unpark_all()

    async def wait_all(self, check: Check) -> None:
        """Wait until every publish so far is settled; raise the first unreported failure."""
        target = self._seq
        await trio.lowlevel.checkpoint()
        while self._unsettled and next(iter(self._unsettled)) <= target:
            await self._lot.park()
        failures = [c for c in self._unreported if c.seq <= target]
        if failures:
            self._unreported = [c for c in self._unreported if c.seq > target]
            err = failures[0]._error
            assert err is not None
            raise err.fresh() if isinstance(err, AMQPError) else err
        check()
