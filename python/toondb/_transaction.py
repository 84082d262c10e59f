"""The context-manager behaviour both transaction kinds share (embedded and IPC)."""
from __future__ import annotations

from types import TracebackType
from typing import Optional, Type, TypeVar

from .errors import ToonDBError

_T = TypeVar("_T", bound="TransactionContext")


class TransactionContext:
    """``with txn:`` commits when the block succeeds and aborts (then re-raises) when it
    raises. Subclasses keep ``_state`` ("active", "committed" or "aborted") and implement
    ``commit`` and ``abort``."""

    _state: str

    def commit(self) -> int:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        if self._state != "active":
            return
        if exc_type is None:
            self.commit()
            return
        try:
            self.abort()
        except ToonDBError:
            pass  # the block's own exception matters more (a lost connection aborts anyway)
