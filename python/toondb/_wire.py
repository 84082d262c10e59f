"""Field encodings shared by the IPC client and the query builder (docs/ipc-protocol.md)."""
from __future__ import annotations

import struct
from typing import Any

U16 = struct.Struct("<H")
U16_MAX = 0xFFFF
U32_MAX = 0xFFFFFFFF


def u32_arg(value: Any, what: str) -> int:
    """``value`` checked as a protocol ``u32`` argument (an int in 0 to 2**32 - 1)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{what} must not be negative (got {value})")
    if value > U32_MAX:
        raise ValueError(f"{what} must be at most {U32_MAX} (got {value})")
    return value


def u16_bytes(data: bytes, what: str) -> bytes:
    """``len u16, data``."""
    if len(data) > U16_MAX:
        raise ValueError(f"{what} is {len(data)} bytes; the protocol allows at most {U16_MAX}")
    return U16.pack(len(data)) + data
