"""TOON (Token-Oriented Object Notation, spec v4) decoding and encoding in pure Python.

TOON is the text format of ToonDB's QUERY replies (``docs/ipc-protocol.md``)::

    >>> from toondb import toon
    >>> toon.decode('result[2]{email,name}:\\n  a@x.org,Alice\\n  b@x.org,"Bob, Jr."')
    {'result': [{'email': 'a@x.org', 'name': 'Alice'}, {'email': 'b@x.org', 'name': 'Bob, Jr.'}]}
    >>> print(toon.encode({"tags": ["a", "b,c"]}))
    tags[2]: a,"b,c"

Both directions follow the v4 specification and pass its conformance fixtures
(``testdata/toon-spec-v4.0.0``): objects, inline/tabular/list arrays, nested field groups
(``{id,customer{name,country}}``), keyed tabular objects (``servers[2:]{host,port}:``),
comment lines, the three delimiters, ``\\uXXXX`` escapes and strict-mode validation.

Host type mapping:

* Decoding: objects are ``dict`` (document order kept), arrays ``list``, strings ``str``,
  ``true``/``false``/``null`` are ``True``/``False``/``None``. A number written without a
  fraction or exponent is an ``int`` (exact, any size); any other number is a ``float`` (-0 reads
  as 0). A number too large for a float (``1e400``) is returned as its text, so nothing is
  silently turned into infinity.
* Encoding: ``dict`` and other mappings (keys through ``str()``), ``list``/``tuple``/``set``,
  ``str``, ``int``, ``float`` (NaN and infinities become ``null``, as the spec says),
  ``decimal.Decimal``, ``bool``, ``None``; ``datetime``/``date``/``time`` become their ISO 8601
  text. Any other type raises ``TypeError``.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import math
import re
from decimal import Decimal
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

__all__ = ["decode", "encode", "ToonDecodeError"]

_DELIMITERS = (",", "\t", "|")
_LITERALS: Dict[str, Any] = {"true": True, "false": False, "null": None}
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}
# A decodable number (§4): optional minus, no leading zeros, optional fraction and exponent.
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
# The inside of a bracket segment: length, optional keyed marker, optional delimiter symbol.
_BRACKET_INNER = re.compile(r"(0|[1-9][0-9]*)(:?)([\t|]?)")
_QUOTED_CHUNK = re.compile(r'[^"\\]*')
_QUOTED_SKIP = re.compile(r'"(?:[^"\\]|\\.)*"')
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_KEY_SEARCH = re.compile(r"[:\[]")


class ToonDecodeError(ValueError):
    """The text is not valid TOON. ``line`` is the 1-based line number of the problem (0 when it
    concerns the whole document); the message starts with it."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}" if line else reason)
        self.line = line
        self.reason = reason


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------

Fields = List[Tuple[str, Optional["Fields"]]]  # a fields segment: (name, nested group or None)


class _Line:
    __slots__ = ("depth", "text", "no", "blanks")

    def __init__(self, depth: int, text: str, no: int, blanks: int) -> None:
        self.depth = depth  # indentation level
        self.text = text  # the line without its indentation
        self.no = no  # 1-based line number
        self.blanks = blanks  # blank lines seen before this line


class _Header:
    __slots__ = ("length", "keyed", "delim", "fields", "end")

    def __init__(self, length: int, keyed: bool, delim: str, fields: Optional[Fields], end: int) -> None:
        self.length = length
        self.keyed = keyed
        self.delim = delim
        self.fields = fields
        self.end = end  # index just past the header's colon


def _number(token: str) -> Any:
    """The number ``token`` denotes (it matched ``_NUMBER``)."""
    if "." not in token and "e" not in token and "E" not in token:
        return int(token)  # "-0" is 0
    value = float(token)
    if math.isinf(value):
        return token  # out of the float range: keep the exact text (lossless policy)
    return value + 0.0  # -0.0 -> 0.0


def _scalar(token: str) -> Any:
    """An unquoted, already trimmed value token."""
    if not token:
        return ""
    literal = _LITERALS.get(token, _LITERALS)
    if literal is not _LITERALS:
        return literal
    first = token[0]
    if (first == "-" or "0" <= first <= "9") and _NUMBER.fullmatch(token):
        return _number(token)
    return token


def _find_unquoted(text: str, char: str, start: int = 0) -> int:
    """Index of the first ``char`` outside double-quoted spans, or -1."""
    if '"' not in text:
        return text.find(char, start)
    i = start
    while True:
        c = text.find(char, i)
        if c < 0:
            return -1
        q = text.find('"', i)
        if q < 0 or c < q:
            return c
        m = _QUOTED_SKIP.match(text, q)
        if m is None:
            return -1  # unterminated quote: nothing after it is unquoted
        i = m.end()


class _Decoder:
    def __init__(self, text: str, indent: int, strict: bool) -> None:
        self.indent = indent
        self.strict = strict
        self.blank_lines: List[int] = []
        self.lines = self._scan(text)
        self.pos = 0

    # -- lines --------------------------------------------------------------------------------

    def _scan(self, text: str) -> List[_Line]:
        indent, strict, blank_lines = self.indent, self.strict, self.blank_lines
        out: List[_Line] = []
        for no, raw in enumerate(text.split("\n"), 1):
            if raw.endswith("\r"):
                raw = raw[:-1]  # only a CR ending the line belongs to the terminator
            body = raw.lstrip(" ")
            if not body.strip(" \t"):
                blank_lines.append(no)
                continue
            if body[0] == "#":
                continue  # a comment line: '#' preceded by spaces only (§5.1)
            spaces = len(raw) - len(body)
            if body[0] == "\t":
                if strict:
                    raise ToonDecodeError(no, "tab in indentation (indent with spaces)")
                full = raw.lstrip(" \t")
                spaces = len(raw[: len(raw) - len(full)].replace("\t", " " * indent))
                body = full
            if strict and spaces % indent:
                raise ToonDecodeError(no, f"indentation of {spaces} spaces is not a multiple of {indent}")
            out.append(_Line(spaces // indent, body, no, len(blank_lines)))
        return out

    def error(self, line: Optional[_Line], reason: str) -> ToonDecodeError:
        return ToonDecodeError(line.no if line is not None else 0, reason)

    def check_span(self, first: _Line, last: _Line) -> None:
        """Strict mode: no blank line between an array's first and last content line (§12)."""
        if self.strict and last.blanks != first.blanks:
            no = self.blank_lines[bisect.bisect_right(self.blank_lines, first.no)]
            raise ToonDecodeError(no, "blank line inside an array")

    # -- tokens -------------------------------------------------------------------------------

    def quoted(self, text: str, pos: int, line: _Line) -> Tuple[str, int]:
        """Unescapes the quoted string starting at ``text[pos] == '"'``; returns it and the
        index just past the closing quote."""
        parts: List[str] = []
        i = pos + 1
        n = len(text)
        while True:
            j = _QUOTED_CHUNK.match(text, i).end()
            if j > i:
                parts.append(text[i:j])
            if j >= n:
                raise self.error(line, "unterminated string")
            if text[j] == '"':
                return "".join(parts), j + 1
            if j + 1 >= n:
                raise self.error(line, "unterminated string")
            e = text[j + 1]
            simple = _ESCAPES.get(e)
            if simple is not None:
                parts.append(simple)
                i = j + 2
                continue
            if e != "u":
                raise self.error(line, f"invalid escape sequence \\{e}")
            code, i = self._unicode_escape(text, j, line)
            if 0xD800 <= code <= 0xDBFF:
                if text.startswith("\\u", i) and _HEX4.fullmatch(text, i + 2, i + 6):
                    low = int(text[i + 2 : i + 6], 16)
                    if 0xDC00 <= low <= 0xDFFF:
                        parts.append(chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)))
                        i += 6
                        continue
                raise self.error(line, f"lone surrogate \\u{code:04X} in string")
            if 0xDC00 <= code <= 0xDFFF:
                raise self.error(line, f"lone surrogate \\u{code:04X} in string")
            parts.append(chr(code))

    def _unicode_escape(self, text: str, j: int, line: _Line) -> Tuple[int, int]:
        if not _HEX4.fullmatch(text, j + 2, j + 6):
            raise self.error(line, "\\u escape needs exactly four hex digits")
        return int(text[j + 2 : j + 6], 16), j + 6

    def value(self, token: str, line: _Line) -> Any:
        """A trimmed value token: a quoted string or an unquoted scalar."""
        if token and token[0] == '"':
            s, end = self.quoted(token, 0, line)
            if end != len(token):
                raise self.error(line, "unexpected text after a quoted string")
            return s
        return _scalar(token)

    def split_values(self, text: str, delim: str, line: _Line) -> List[Any]:
        """Splits ``text`` at the unquoted ``delim`` into decoded values (tokens are trimmed of
        spaces; an empty token is the empty string)."""
        if '"' not in text:
            return [_scalar(tok.strip(" ")) for tok in text.split(delim)]
        out: List[Any] = []
        i, n = 0, len(text)
        while True:
            while i < n and text[i] == " ":
                i += 1
            if i < n and text[i] == '"':
                s, i = self.quoted(text, i, line)
                while i < n and text[i] == " ":
                    i += 1
                if i < n and text[i] != delim:
                    raise self.error(line, "unexpected text after a quoted value")
                out.append(s)
            else:
                j = text.find(delim, i)
                if j < 0:
                    j = n
                out.append(_scalar(text[i:j].rstrip(" ")))
                i = j
            if i >= n:
                return out
            i += 1

    # -- headers ------------------------------------------------------------------------------

    def header(self, text: str, pos: int, line: _Line) -> Optional[_Header]:
        """Parses an array header's ``[N...]{fields}:`` part starting at ``text[pos] == '['``.
        Malformed: an error in strict mode, None (not a header) otherwise."""
        close = text.find("]", pos)
        m = _BRACKET_INNER.fullmatch(text, pos + 1, close) if close > 0 else None
        if m is None:
            return self._not_header(line, "malformed bracket segment (expected [N], [N|], [N<TAB>] or [N:])")
        length = int(m.group(1))
        keyed = bool(m.group(2))
        delim = m.group(3) or ","
        i = close + 1
        fields: Optional[Fields] = None
        if i < len(text) and text[i] == "{":
            fields, i = self.fields(text, i, delim, line)
            if fields is None:
                return None
        if i >= len(text) or text[i] != ":":
            return self._not_header(line, "array header must end with ':' right after ']' or '}'")
        return _Header(length, keyed, delim, fields, i + 1)

    def _not_header(self, line: _Line, reason: str) -> None:
        if self.strict:
            raise self.error(line, reason)
        return None

    def fields(self, text: str, pos: int, delim: str, line: _Line) -> Tuple[Optional[Fields], int]:
        """Parses a fields segment starting at ``text[pos] == '{'`` (quote-aware, nested)."""
        fields: Fields = []
        names = set()
        others = "".join(d for d in _DELIMITERS if d != delim)
        i, n = pos + 1, len(text)
        while True:
            if i >= n:
                raise self.error(line, "unmatched '{' in fields segment")
            if text[i] == "}" and not fields:
                raise self.error(line, "empty fields segment")
            if text[i] == '"':
                name, i = self.quoted(text, i, line)
            else:
                j = i
                while j < n and text[j] not in "{}" and text[j] != delim:
                    j += 1
                name = text[i:j].strip(" ")
                if not name:
                    raise self.error(line, "empty field name in fields segment")
                if self.strict and any(c in name for c in others):
                    raise self.error(line, f"field name {name!r} uses a delimiter other than the header's {delim!r}")
                i = j
            sub: Optional[Fields] = None
            if i < n and text[i] == "{":
                sub, i = self.fields(text, i, delim, line)
            if self.strict and name in names:
                raise self.error(line, f"duplicate field name {name!r}")
            names.add(name)
            fields.append((name, sub))
            if i >= n:
                raise self.error(line, "unmatched '{' in fields segment")
            if text[i] == "}":
                return fields, i + 1
            if text[i] != delim:
                raise self.error(line, f"unexpected {text[i]!r} in fields segment")
            i += 1

    @staticmethod
    def leaf_count(fields: Fields) -> int:
        return sum(1 if sub is None else _Decoder.leaf_count(sub) for _, sub in fields)

    @staticmethod
    def build(fields: Fields, cells: Sequence[Any], i: int = 0) -> Tuple[Dict[str, Any], int]:
        obj: Dict[str, Any] = {}
        for name, sub in fields:
            if sub is None:
                obj[name] = cells[i] if i < len(cells) else None
                i += 1
            else:
                obj[name], i = _Decoder.build(sub, cells, i)
        return obj, i

    def header_value(self, hdr: _Header, text: str, line: _Line, depth: int) -> Any:
        """The value of an array header at ``depth`` (its rows or items at ``depth + 1``)."""
        rest = text[hdr.end :].strip(" ")
        if hdr.keyed:
            if hdr.fields is None:
                raise self.error(line, "a keyed header [N:] needs a fields segment")
            if rest and self.strict:
                raise self.error(line, "no inline content may follow a keyed header")
            return self.keyed_rows(hdr, line, depth + 1)
        if hdr.fields is not None:
            if rest:
                raise self.error(line, "no inline content may follow a tabular header")
            return self.tabular_rows(hdr, line, depth + 1)
        if rest:
            values = self.split_values(rest, hdr.delim, line)
            if self.strict and len(values) != hdr.length:
                raise self.error(line, f"array declares {hdr.length} values but has {len(values)}")
            return values
        return self.list_items(hdr, line, depth + 1)

    # -- array bodies -------------------------------------------------------------------------

    def _body_line(self, depth: int) -> Optional[_Line]:
        """The next line if it is at ``depth``; None at a dedent or the end; an error when it is
        indented deeper."""
        if self.pos >= len(self.lines):
            return None
        line = self.lines[self.pos]
        if line.depth < depth:
            return None
        if line.depth > depth:
            raise self.error(line, "unexpected indentation")
        return line

    def tabular_rows(self, hdr: _Header, header_line: _Line, depth: int) -> List[Dict[str, Any]]:
        fields = hdr.fields or []
        width = self.leaf_count(fields)
        flat = all(sub is None for _, sub in fields) and len({name for name, _ in fields}) == len(fields)
        names = [name for name, _ in fields]
        rows: List[Dict[str, Any]] = []
        first = None
        while True:
            line = self._body_line(depth)
            if line is None:
                break
            self.pos += 1
            first = first or line
            cells = self.split_values(line.text, hdr.delim, line)
            if self.strict and len(cells) != width:
                raise self.error(line, f"row has {len(cells)} values, the header declares {width} fields")
            rows.append(dict(zip(names, cells)) if flat else self.build(fields, cells)[0])
        if self.strict and len(rows) != hdr.length:
            raise self.error(header_line, f"array declares {hdr.length} rows but has {len(rows)}")
        if first is not None:
            self.check_span(first, self.lines[self.pos - 1])
        return rows

    def keyed_rows(self, hdr: _Header, header_line: _Line, depth: int) -> Dict[str, Any]:
        fields = hdr.fields or []
        width = self.leaf_count(fields)
        out: Dict[str, Any] = {}
        count = 0
        first = None
        while True:
            line = self._body_line(depth)
            if line is None:
                break
            self.pos += 1
            first = first or line
            text = line.text
            if text[0] == '"':
                key, i = self.quoted(text, 0, line)
                while i < len(text) and text[i] == " ":
                    i += 1
                if i >= len(text) or text[i] != ":":
                    raise self.error(line, "expected ':' after the entry key")
            else:
                i = text.find(":")
                if i < 0:
                    raise self.error(line, "an entry row needs 'key: cells'")
                key = text[:i].strip(" ")
            rest = text[i + 1 :].strip(" ")
            if not rest:
                raise self.error(line, "entry row has no cells")
            cells = self.split_values(rest, hdr.delim, line)
            if self.strict and len(cells) != width:
                raise self.error(line, f"entry row has {len(cells)} values, the header declares {width} fields")
            if self.strict and key in out:
                raise self.error(line, f"duplicate key {key!r}")
            out[key] = self.build(fields, cells)[0]
            count += 1
        if self.strict and count != hdr.length:
            raise self.error(header_line, f"keyed header declares {hdr.length} entries but has {count}")
        if first is not None:
            self.check_span(first, self.lines[self.pos - 1])
        return out

    def list_items(self, hdr: _Header, header_line: _Line, depth: int) -> List[Any]:
        items: List[Any] = []
        first = None
        while True:
            line = self._body_line(depth)
            if line is None:
                break
            self.pos += 1
            first = first or line
            text = line.text.rstrip(" ")
            if text == "-":
                items.append({})
            elif text.startswith("- "):
                items.append(self.list_item(text[2:].lstrip(" "), line, depth))
            else:
                raise self.error(line, "expected a list item ('- ...')")
        if self.strict and len(items) != hdr.length:
            raise self.error(header_line, f"array declares {hdr.length} items but has {len(items)}")
        if first is not None:
            self.check_span(first, self.lines[self.pos - 1])
        return items

    def list_item(self, text: str, line: _Line, depth: int) -> Any:
        """The item on a hyphen line at ``depth`` (``text`` follows the "- ")."""
        if text == "[]":
            return []
        if text[0] == "[":
            hdr = self.header(text, 0, line)
            if hdr is not None:
                if hdr.keyed:
                    raise self.error(line, "a keyless keyed header is only valid at the document root")
                if hdr.fields is not None:
                    raise self.error(line, "a keyless tabular header cannot be a list item")
                return self.header_value(hdr, text, line, depth)
        if _find_unquoted(text, ":") >= 0:
            obj: Dict[str, Any] = {}
            self.field(text, line, depth + 1, obj)
            self.object_fields(depth + 1, obj)
            return obj
        return self.value(text, line)

    # -- objects ------------------------------------------------------------------------------

    def object_fields(self, depth: int, obj: Dict[str, Any]) -> Dict[str, Any]:
        while True:
            line = self._body_line(depth)
            if line is None:
                return obj
            self.pos += 1
            self.field(line.text, line, depth, obj)

    def field(self, text: str, line: _Line, depth: int, obj: Dict[str, Any]) -> None:
        """Parses the field ``text`` (at ``depth``) and the lines under it into ``obj``."""
        quoted = text[0] == '"'
        if quoted:
            key, i = self.quoted(text, 0, line)
            if i >= len(text) or text[i] not in ":[":
                raise self.error(line, "expected ':' after the key")
        else:
            m = _KEY_SEARCH.search(text)
            if m is None:
                raise self.error(line, "expected 'key: value' (missing ':')")
            i = m.start()
            key = text[:i].rstrip(" ")
        if text[i] == "[":
            if not quoted and not key:
                raise self.error(line, "a keyless array header is only valid at the root or as a list item")
            hdr = self.header(text, i, line)
            if hdr is not None:
                self.store(obj, key, self.header_value(hdr, text, line, depth), line)
                return
            # Not a header (non-strict): the text up to the first unquoted colon is a literal key.
            i = _find_unquoted(text, ":")
            if i < 0:
                raise self.error(line, "expected 'key: value' (missing ':')")
            key = text[:i].rstrip(" ")
        rest = text[i + 1 :].strip(" ")
        if not rest:
            value: Any = self.object_fields(depth + 1, {})
        elif rest == "[]":
            value = []
        else:
            value = self.value(rest, line)
        self.store(obj, key, value, line)

    def store(self, obj: Dict[str, Any], key: str, value: Any, line: _Line) -> None:
        if self.strict and key in obj:
            raise self.error(line, f"duplicate key {key!r}")
        obj[key] = value

    # -- document -----------------------------------------------------------------------------

    def document(self) -> Any:
        lines = self.lines
        if not lines:
            return {}
        first = lines[0]
        text = first.text
        if text[0] == "[" and first.depth == 0:
            if text.rstrip(" ") == "[]":
                self.pos = 1
                value: Any = []
            else:
                hdr = self.header(text, 0, first)
                value = None
                if hdr is not None:
                    self.pos = 1
                    value = self.header_value(hdr, text, first, 0)
                elif len(lines) == 1:
                    return self.value(text.strip(" "), first)
                else:
                    raise self.error(first, "malformed root array header")
            if self.pos < len(lines):
                raise self.error(lines[self.pos], "unexpected content after the root array")
            return value
        if len(lines) == 1 and first.depth == 0 and _find_unquoted(text, ":") < 0:
            return self.value(text.strip(" "), first)
        return self.object_fields(0, {})


def decode(text: str, *, indent: int = 2, strict: bool = True) -> Any:
    """Decodes a TOON document.

    Args:
        text: the document (LF or CRLF line ends).
        indent: spaces per indentation level.
        strict: enforce declared counts, exact indentation, no blank lines inside arrays, no
            duplicate keys (non-strict: last one wins) and well-formed headers.

    Returns:
        The value: a dict for an object document (an empty document is ``{}``), a list for a
        root array, or a primitive.

    Raises:
        ToonDecodeError: the text is not valid TOON; the message names the line.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    if not isinstance(indent, int) or isinstance(indent, bool) or indent < 1:
        raise ValueError(f"indent must be a positive int, not {indent!r}")
    return _Decoder(text, indent, strict).document()


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------

_UNQUOTED_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NUMERIC_LIKE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NEEDS_ESCAPE = re.compile(r'[\\"\x00-\x1f]')
_STRUCTURAL = re.compile(r'[:"\\\[\]{}\x00-\x1f]')
_ESCAPE_OUT = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_PRIMITIVE_TYPES = (str, int, float, bool, type(None), Decimal)


def _escape_char(m: "re.Match[str]") -> str:
    c = m.group()
    return _ESCAPE_OUT.get(c) or f"\\u{ord(c):04x}"


def _quote(s: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, s) + '"'


def _encode_key(key: str) -> str:
    return key if _UNQUOTED_KEY.fullmatch(key) else _quote(key)


def _format_float(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return "null"
    if value == 0:
        return "0"
    if value.is_integer():
        return str(int(value))  # exact: decodes to an int equal to the float
    return _format_decimal(Decimal(repr(value)))


def _format_decimal(value: Decimal) -> str:
    if not value.is_finite():
        return "null"
    if value == 0:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _normalize(value: Any) -> Any:
    """Maps host values to the JSON data model (see the module docstring)."""
    if isinstance(value, _PRIMITIVE_TYPES):
        if isinstance(value, int) and not isinstance(value, bool) and type(value) is not int:
            return int(value)  # IntEnum and other int subclasses
        if isinstance(value, float) and type(value) is not float:
            return float(value)
        if isinstance(value, str) and type(value) is not str:
            return str(value)
        return value
    if isinstance(value, Mapping):
        return {k if isinstance(k, str) else str(k): _normalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalize(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return [_normalize(v) for v in value]
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as TOON")


def _is_primitive(value: Any) -> bool:
    return not isinstance(value, (dict, list))


def _table_schema(rows: Sequence[Any]) -> Optional[Fields]:
    """The fields of ``rows`` when they can share one tabular header: every row a non-empty
    dict with the same key set, every column all primitives or all nested dicts that are
    themselves uniform (a nested field group). None otherwise."""
    first = rows[0]
    if not isinstance(first, dict) or not first:
        return None
    n = len(first)
    for row in rows:
        if not isinstance(row, dict) or len(row) != n:
            return None
        for key in first:
            if key not in row:
                return None
    fields: Fields = []
    for key in first:
        column = [row[key] for row in rows]
        if all(_is_primitive(v) for v in column):
            fields.append((key, None))
            continue
        sub = _table_schema(column)
        if sub is None:
            return None
        fields.append((key, sub))
    return fields


def _cells(obj: Dict[str, Any], fields: Fields, out: List[Any]) -> List[Any]:
    for name, sub in fields:
        if sub is None:
            out.append(obj[name])
        else:
            _cells(obj[name], sub, out)
    return out


class _Encoder:
    def __init__(self, indent: int, delimiter: str) -> None:
        self.unit = " " * indent
        self.delim = delimiter
        self.dsym = "" if delimiter == "," else delimiter

    def pad(self, depth: int) -> str:
        return self.unit * depth

    def string(self, s: str) -> str:
        if (
            not s
            or s != s.strip()
            or s in _LITERALS
            or s[0] in "-#"
            or self.delim in s
            or _STRUCTURAL.search(s)
            or _NUMERIC_LIKE.fullmatch(s)
        ):
            return _quote(s)
        return s

    def primitive(self, value: Any) -> str:
        if value is None:
            return "null"
        if value is True:
            return "true"
        if value is False:
            return "false"
        if isinstance(value, str):
            return self.string(value)
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return _format_float(value)
        return _format_decimal(value)

    def fields_segment(self, fields: Fields) -> str:
        parts = []
        for name, sub in fields:
            text = _encode_key(name)
            if sub is not None:
                text += self.fields_segment(sub)
            parts.append(text)
        return "{" + self.delim.join(parts) + "}"

    def row(self, obj: Dict[str, Any], fields: Fields) -> str:
        return self.delim.join(self.primitive(v) for v in _cells(obj, fields, []))

    @staticmethod
    def keyed_schema(obj: Dict[str, Any]) -> Optional[Fields]:
        """Fields for the keyed tabular form of ``obj`` (two or more entries whose values are
        uniform objects), or None."""
        if len(obj) < 2:
            return None
        return _table_schema(list(obj.values()))

    def keyed(self, key: str, obj: Dict[str, Any], fields: Fields, depth: int, lines: List[str]) -> None:
        pad = self.pad(depth)
        lines.append(f"{pad}{key}[{len(obj)}:{self.dsym}]{self.fields_segment(fields)}:")
        inner = self.pad(depth + 1)
        for name, value in obj.items():
            lines.append(f"{inner}{_encode_key(name)}: {self.row(value, fields)}")

    def object_fields(self, obj: Dict[str, Any], depth: int, lines: List[str]) -> None:
        for key, value in obj.items():
            self.field(_encode_key(key), value, depth, lines)

    def field(self, key: str, value: Any, depth: int, lines: List[str]) -> None:
        pad = self.pad(depth)
        if isinstance(value, dict):
            if not value:
                lines.append(f"{pad}{key}:")
                return
            fields = self.keyed_schema(value)
            if fields is not None:
                self.keyed(key, value, fields, depth, lines)
            else:
                lines.append(f"{pad}{key}:")
                self.object_fields(value, depth + 1, lines)
        elif isinstance(value, list):
            if not value:
                lines.append(f"{pad}{key}: []")
            else:
                self.array(key, value, depth, lines, tabular=True)
        else:
            lines.append(f"{pad}{key}: {self.primitive(value)}")

    def array(self, key: str, items: List[Any], depth: int, lines: List[str], tabular: bool) -> None:
        """A non-empty array under header ``key`` (empty for keyless) at ``depth``."""
        pad = self.pad(depth)
        head = f"{pad}{key}[{len(items)}{self.dsym}]"
        if all(_is_primitive(v) for v in items):
            lines.append(f"{head}: " + self.delim.join(self.primitive(v) for v in items))
            return
        fields = _table_schema(items) if tabular else None
        if fields is not None:
            lines.append(f"{head}{self.fields_segment(fields)}:")
            inner = self.pad(depth + 1)
            for obj in items:
                lines.append(inner + self.row(obj, fields))
            return
        lines.append(f"{head}:")
        for item in items:
            self.list_item(item, depth + 1, lines)

    def list_item(self, item: Any, depth: int, lines: List[str]) -> None:
        pad = self.pad(depth)
        if isinstance(item, dict):
            if not item:
                lines.append(f"{pad}-")
                return
            # The object's fields as if at depth + 1; the first one moves onto the hyphen line.
            start = len(lines)
            self.object_fields(item, depth + 1, lines)
            lines[start] = f"{pad}- " + lines[start][len(pad) + len(self.unit) :]
        elif isinstance(item, list):
            if not item:
                lines.append(f"{pad}- [0{self.dsym}]:")
                return
            start = len(lines)
            # Keyless tabular headers are not valid list items: arrays of objects use list form.
            self.array("", item, depth, lines, tabular=False)
            lines[start] = f"{pad}- " + lines[start][len(pad) :]
        else:
            lines.append(f"{pad}- {self.primitive(item)}")


def encode(value: Any, *, indent: int = 2, delimiter: str = ",") -> str:
    """Encodes ``value`` as a TOON document (LF line ends, no trailing newline).

    Args:
        value: a JSON-model value (see the module docstring for the accepted host types).
        indent: spaces per indentation level.
        delimiter: ``","``, ``"\\t"`` or ``"|"``: separates inline array values, tabular cells
            and field names, and is declared in every array header.

    Returns:
        The TOON text; an empty dict encodes as ``""``.

    Raises:
        TypeError: a value of a type TOON cannot represent.
        ValueError: a bad ``indent`` or ``delimiter``.
    """
    if delimiter not in _DELIMITERS:
        raise ValueError(f"delimiter must be ',', '\\t' or '|', not {delimiter!r}")
    if not isinstance(indent, int) or isinstance(indent, bool) or indent < 1:
        raise ValueError(f"indent must be a positive int, not {indent!r}")
    value = _normalize(value)
    enc = _Encoder(indent, delimiter)
    lines: List[str] = []
    if isinstance(value, dict):
        fields = enc.keyed_schema(value)
        if fields is not None:
            enc.keyed("", value, fields, 0, lines)
        else:
            enc.object_fields(value, 0, lines)
    elif isinstance(value, list):
        if not value:
            return "[]"
        enc.array("", value, 0, lines, tabular=True)
    else:
        return enc.primitive(value)
    return "\n".join(lines)
