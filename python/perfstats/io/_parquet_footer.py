"""The row groups' timestamp statistics, read from a Parquet footer by a small,
bounded Thrift compact-protocol reader instead of pyarrow's metadata accessors.

Why our own: on a footer whose column-chunk metadata contradicts the schema (a one-byte
edit of a column's type, or of its size statistics), pyarrow's
``FileMetaData.row_group(r).column(k)`` throws a C++ exception through a binding that
does not translate it, and the process aborts (``std::terminate``). pyarrow's data reads
raise a clean ``OSError`` on the same files, so only the statistics, which summarize uses
as a hint to lay out its windows, need another reader. This one reads only what it needs,
checks every length against the bytes it has, and answers None for anything it does not
understand; it never decides whether a file is valid (pyarrow's read does that).
"""

from __future__ import annotations

import os
import struct
from typing import Any

__all__ = [
    "PHYSICAL_TYPES",
    "RowGroupChunks",
    "chunk_types",
    "row_groups",
    "timestamp_ranges",
]

#: Parquet physical types by their Thrift enum value.
PHYSICAL_TYPES = (
    "BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE", "BYTE_ARRAY",
    "FIXED_LEN_BYTE_ARRAY",
)  # fmt: skip

_MAX_FOOTER = 64 << 20  # footers beyond 64 MiB are not read for a hint
_MAX_DEPTH = 32


class _Bad(Exception):
    """The footer is not what this reader understands."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise _Bad("truncated")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = value = 0
        while True:
            b = self.byte()
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise _Bad("varint too long")

    def zigzag(self) -> int:
        v = self.varint()
        return (v >> 1) ^ -(v & 1)

    def binary(self) -> bytes:
        n = self.varint()
        if n > len(self.data) - self.pos:
            raise _Bad("binary past the end")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def list_header(self) -> tuple[int, int]:
        head = self.byte()
        size, elem = head >> 4, head & 0x0F
        if size == 15:
            size = self.varint()
        if size > len(self.data) - self.pos:  # every element takes at least one byte
            raise _Bad("list longer than the footer")
        return size, elem

    def skip(self, kind: int, depth: int = 0) -> None:
        if depth > _MAX_DEPTH:
            raise _Bad("nested too deep")
        if kind in (1, 2):  # booleans live in the field header
            return
        if kind == 3:
            self.byte()
        elif kind in (4, 5, 6):
            self.varint()
        elif kind == 7:
            if self.pos + 8 > len(self.data):
                raise _Bad("truncated double")
            self.pos += 8
        elif kind == 8:
            self.binary()
        elif kind in (9, 10):
            size, elem = self.list_header()
            for _ in range(size):
                self.skip(elem, depth + 1)
        elif kind == 11:
            size = self.varint()
            if size > len(self.data) - self.pos:
                raise _Bad("map longer than the footer")
            if size:
                types = self.byte()
                for _ in range(size):
                    self.skip(types >> 4, depth + 1)
                    self.skip(types & 0x0F, depth + 1)
        elif kind == 12:
            for _, ftype in self.fields():
                self.skip(ftype, depth + 1)
        else:
            raise _Bad(f"unknown Thrift type {kind}")

    def fields(self) -> Any:
        """(field id, type) of each field of a struct, up to its stop byte."""
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                return
            delta, kind = head >> 4, head & 0x0F
            last = last + delta if delta else self.zigzag()
            yield last, kind


def _statistics(r: _Reader) -> tuple[bytes | None, bytes | None]:
    lo = hi = old_lo = old_hi = None
    for fid, kind in r.fields():
        if kind == 8 and fid in (1, 2, 5, 6):
            value = r.binary()
            if fid == 1:
                old_hi = value
            elif fid == 2:
                old_lo = value
            elif fid == 5:
                hi = value
            else:
                lo = value
        else:
            r.skip(kind)
    # min_value/max_value (5, 6) are the current fields; min/max (1, 2) are the old,
    # signed-order ones, which are right for INT64 timestamps too
    return (lo if lo is not None else old_lo), (hi if hi is not None else old_hi)


def _column_meta(
    r: _Reader,
) -> tuple[tuple[str, ...], int | None, tuple[int, int] | None]:
    """A chunk's column path, physical type and (min, max) raw INT64 statistics (None
    when it has none usable)."""
    ptype = None
    path: list[bytes] = []
    lo = hi = None
    for fid, kind in r.fields():
        if fid == 1 and kind == 5:
            ptype = r.zigzag()
        elif fid == 3 and kind == 9:
            size, elem = r.list_header()
            if elem != 8:
                raise _Bad("path is not strings")
            path = [r.binary() for _ in range(size)]
        elif fid == 12 and kind == 12:
            lo, hi = _statistics(r)
        else:
            r.skip(kind)
    names = tuple(p.decode("utf-8", "replace") for p in path)
    if ptype != 2 or lo is None or hi is None or len(lo) != 8 or len(hi) != 8:
        return names, ptype, None  # not INT64, or no usable min/max
    return names, ptype, (struct.unpack("<q", lo)[0], struct.unpack("<q", hi)[0])


_Chunks = dict[tuple[str, ...], tuple[int | None, tuple[int, int] | None]]


def _row_group(r: _Reader) -> tuple[int, _Chunks]:
    rows = -1
    chunks: _Chunks = {}
    for fid, kind in r.fields():
        if fid == 1 and kind == 9:
            size, elem = r.list_header()
            if elem != 12:
                raise _Bad("columns are not structs")
            for _ in range(size):
                for cfid, ckind in r.fields():  # ColumnChunk
                    if cfid == 3 and ckind == 12:
                        names, ptype, stats = _column_meta(r)
                        if names in chunks:
                            raise _Bad("column twice in a row group")
                        chunks[names] = (ptype, stats)
                    else:
                        r.skip(ckind)
        elif fid == 3 and kind == 6:
            rows = r.zigzag()
        else:
            r.skip(kind)
    if rows < 0:
        raise _Bad("row group without its row count")
    return rows, chunks


#: Per row group: its rows and, per column path, the chunk's physical type and (min, max).
RowGroupChunks = list[tuple[int, _Chunks]]


def row_groups(path: str | os.PathLike[str]) -> RowGroupChunks | None:
    """Rows and chunk metadata of each row group, or None when the footer is unreadable
    or unusual (parse it once and pass it to :func:`chunk_types` and
    :func:`timestamp_ranges`)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            if size < 12:
                return None
            fh.seek(size - 8)
            tail = fh.read(8)
            if tail[4:] != b"PAR1":
                return None
            length = int.from_bytes(tail[:4], "little")
            if length <= 0 or length > min(size - 12, _MAX_FOOTER):
                return None
            fh.seek(size - 8 - length)
            footer = fh.read(length)
    except OSError:
        return None
    if len(footer) != length:
        return None
    r = _Reader(footer)
    groups: list[tuple[int, _Chunks]] = []
    try:
        for fid, kind in r.fields():  # FileMetaData
            if fid == 4 and kind == 9:
                size, elem = r.list_header()
                if elem != 12:
                    return None
                groups = [_row_group(r) for _ in range(size)]
            else:
                r.skip(kind)
    except _Bad:
        return None
    return groups


def _parsed(source: str | os.PathLike[str] | RowGroupChunks) -> RowGroupChunks | None:
    return source if isinstance(source, list) else row_groups(source)


def chunk_types(
    path: str | os.PathLike[str] | RowGroupChunks,
) -> list[dict[tuple[str, ...], str]] | None:
    """Per row group, the physical type each column chunk's own metadata declares
    ("INT64", ..., or "UNKNOWN"), to check against the schema before pyarrow's metadata
    accessors see a contradiction (which aborts the process); None when the footer is
    unreadable (`path` may also be the parse :func:`row_groups` returned)."""
    groups = _parsed(path)
    if groups is None:
        return None
    return [
        {
            names: PHYSICAL_TYPES[t] if t is not None and 0 <= t < 8 else "UNKNOWN"
            for names, (t, _) in chunks.items()
        }
        for _, chunks in groups
    ]


def timestamp_ranges(
    path: str | os.PathLike[str] | RowGroupChunks, column: str = "timestamp"
) -> list[tuple[int, tuple[int, int] | None]] | None:
    """Per row group: (rows, (min, max) raw INT64 statistics of ``column`` or None), read
    from the file's footer; None when the footer is unreadable or unusual (then read the
    data, which pyarrow checks).

    Examples
    --------
    >>> import tempfile, pathlib, pyarrow as pa, pyarrow.parquet as pq
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d) / "t.parquet"
    ...     pq.write_table(pa.table({"timestamp": pa.array([5, 1, 9], pa.timestamp("ms"))}), p)
    ...     timestamp_ranges(p)
    [(3, (1, 9))]
    """
    groups = _parsed(path)
    if groups is None:
        return None
    out: list[tuple[int, tuple[int, int] | None]] = []
    for rows, chunks in groups:
        if (column,) not in chunks:
            return None
        out.append((rows, chunks[(column,)][1]))
    return out
