"""The one exception type of the codec.

Every malformed input the codec can see maps to an AMQP reply code, so decoding
failures are raised as ``ProtocolError`` carrying that code (and the class/method
ids when a method was being decoded); the session turns it into
connection.close or channel.close without any translation table of its own.
"""

from __future__ import annotations

__all__ = ["ProtocolError"]


class ProtocolError(Exception):
    """A protocol violation with its AMQP reply code."""

    reply_code: int
    text: str
    class_id: int
    method_id: int

    def __init__(self, reply_code: int, text: str, class_id: int = 0, method_id: int = 0) -> None:
        super().__init__(reply_code, text, class_id, method_id)
        self.reply_code = reply_code
        self.text = text
        self.class_id = class_id
        self.method_id = method_id

    @property
    def hard(self) -> bool:
        """True when the code is a connection-level ("hard") error."""
        # Imported here: spec imports this module, so a top-level import would be circular.
        from .spec import HARD_ERRORS

        return self.reply_code in HARD_ERRORS

    def __str__(self) -> str:
        from .spec import ReplyCode

        try:
            name = ReplyCode(self.reply_code).name
        except ValueError:
            name = str(self.reply_code)
        return f"{name} - {self.text}"
