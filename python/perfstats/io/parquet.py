"""Parquet: the one path by which perfstats reads Parquet files.

pyarrow decodes them, with positioned reads (no memory map: a mapped file that shrinks
while it is read kills the process with SIGBUS). :func:`read_footer` parses a file's
footer once (pyarrow's metadata, and the row groups' statistics by the bounded reader of
:mod:`perfstats.io._parquet_footer`) and checks its chunk types; every later read takes
it. :func:`read_frame` reads the wanted columns whole (for
:func:`~perfstats.io.events.read_events` and a whole-file summary);
:func:`read_row_groups` decodes and checks one batch of row groups at a time (timestamps
as int64 nanoseconds, one key as codes and a dictionary, a float column) for a streamed
summary. Both check the same things with the same messages, naming the file, the row
group, the row and the column: a damaged file, a timestamp nanoseconds cannot hold, a
dictionary index outside its dictionary, a row count that differs from the footer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from perfstats.io._parquet_footer import (
    RowGroupChunks,
    chunk_types,
    row_groups,
    timestamp_ranges,
)
from perfstats.io.schema import NS_PER_UNIT, UNIT_ALIASES, Raw, pyarrow_module

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BATCH_ROWS",
    "Footer",
    "OutsideStatistics",
    "RowGroups",
    "SkippedPartWarning",
    "dictionary_error",
    "float_values",
    "footer_time_range",
    "ns_range_error",
    "one_array",
    "open_file",
    "part_files",
    "read_folder",
    "read_footer",
    "read_frame",
    "read_parquet",
    "read_row_groups",
]

# Row groups smaller than this are read several at a time (per read, pyarrow and the
# window pass cost tens of microseconds, which 20,000 one-row row groups multiply), and a
# file with smaller row groups on average is read whole by one call rather than one
# fragment per row group.
BATCH_ROWS = 1 << 16

_NS = np.iinfo(np.int64)


@dataclass
class Footer:
    """A Parquet file's footer, parsed once (see :func:`read_footer`)."""

    path: str | os.PathLike[str]
    file: Any  # the pyarrow ParquetFile opened on it (one thread at a time)
    metadata: Any  # pyarrow FileMetaData
    groups: RowGroupChunks | None  # the bounded reader's parse; None: an unusual footer


class OutsideStatistics(Exception):
    """A row group's timestamps lie outside the bounds its footer statistics state (see
    :func:`read_row_groups`'s `bounds`)."""


def _open(path: str | os.PathLike[str], metadata: Any) -> Any:
    pa = pyarrow_module()
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path, memory_map=False, metadata=metadata)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (pa.ArrowException, OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{os.fspath(path)}: not a readable Parquet file ({e})") from e


def read_footer(path: str | os.PathLike[str]) -> Footer:
    """The footer of the Parquet file at `path`, parsed once: pyarrow's metadata (by
    opening the file) and the row groups' chunk metadata (by the bounded reader). A file
    that is no Parquet, or whose column chunks declare another physical type than the
    schema (pyarrow's metadata accessors abort the process on those), raises ValueError
    naming it."""
    file = _open(path, None)
    footer = Footer(path, file, file.metadata, row_groups(path))
    _check_chunk_types(footer)
    return footer


def open_file(path: str | os.PathLike[str], footer: Footer | None = None) -> Any:
    """pyarrow's ParquetFile of `path`, read with positioned reads (no memory map); a
    file that is no Parquet raises ValueError naming it. With `footer` (from
    :func:`read_footer`) the footer is not parsed again (tens of milliseconds per 1,000
    row groups): one ParquetFile per thread reading at once."""
    if footer is None:
        return read_footer(path).file
    return _open(path, footer.metadata)


def _check_chunk_types(footer: Footer) -> None:
    """Refuses a file whose column chunks declare another physical type than the schema
    (pyarrow's full read refuses it too, but its metadata accessors abort the process)."""
    declared = None if footer.groups is None else chunk_types(footer.groups)
    if declared is None:
        return  # an unusual footer: pyarrow's read decides
    schema = footer.file.schema
    expected = {
        tuple(schema.column(i).path.split(".")): schema.column(i).physical_type
        for i in range(len(schema))
    }
    for r, chunks in enumerate(declared):
        for names, ptype in chunks.items():
            want = expected.get(names)
            if want is not None and ptype != want:
                raise ValueError(
                    f"{os.fspath(footer.path)}: not a readable Parquet file (row group "
                    f"{r}, column {'.'.join(names)}: its chunk says {ptype}, the "
                    f"schema {want})"
                )


def footer_time_range(footer: Footer) -> tuple[int, int] | None:
    """First and last timestamp (ns) of the file from its row groups' footer statistics
    of the ``timestamp`` column, or None without usable statistics for every non-empty
    row group. Read by the bounded footer reader (pyarrow's ``row_group(r).column(k)``
    aborts the process on a footer whose chunk metadata contradicts the schema). Only a
    hint: the statistics may be edited; :func:`read_row_groups` reports each batch's
    true range."""
    meta = footer.metadata
    paths = [meta.schema.column(i).path for i in range(meta.num_columns)]
    if "timestamp" not in paths or footer.groups is None:
        return None
    k = paths.index("timestamp")
    logical = json.loads(meta.schema.column(k).logical_type.to_json())
    alias = UNIT_ALIASES.get(str(logical.get("timeUnit", "")).lower())
    if alias is None:
        return None
    unit = NS_PER_UNIT[alias]
    ranges = timestamp_ranges(footer.groups)
    if ranges is None or len(ranges) != meta.num_row_groups:
        return None
    lo = hi = None
    for rows, got in ranges:
        if rows == 0:
            continue
        if got is None:
            return None
        lo = got[0] * unit if lo is None else min(lo, got[0] * unit)
        hi = got[1] * unit if hi is None else max(hi, got[1] * unit)
    return None if lo is None or hi is None else (lo, hi)


def ns_range_error(
    path: str | os.PathLike[str], raw: npt.NDArray[np.int64], unit: str, first_row: int
) -> ValueError | None:
    """The error for the first timestamp of `raw` (in Arrow's `unit`) that nanoseconds
    since the epoch cannot hold, or None when they all fit."""
    factor = NS_PER_UNIT[unit]
    if factor == 1 or len(raw) == 0:
        return None
    limit = _NS.max // factor
    if -limit <= raw.min() and raw.max() <= limit:
        return None
    row = int(np.argmax((raw < -limit) | (raw > limit)))
    value = raw[row : row + 1].view(f"datetime64[{unit}]")[0]
    return ValueError(
        f"{os.fspath(path)}: timestamp at row {first_row + row} ({value}) is outside the "
        "range of nanosecond timestamps (1677-09-21 to 2262-04-11)"
    )


def one_array(column: Any) -> Any:
    """A pyarrow ChunkedArray as one Array, without a copy when it has one chunk
    (combine_chunks copies even then)."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def float_values(array: Any) -> npt.NDArray[np.float64]:
    """A pyarrow numeric array as float64 with NaN for nulls (no copy when it is one)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if array.type != pa.float64():
        # int64 beyond 2^53 rounds, as in NumPy
        array = array.cast(pa.float64(), safe=False)
    if array.null_count:
        array = pc.fill_null(array, np.nan)
    out: npt.NDArray[np.float64] = array.to_numpy(zero_copy_only=False)
    return out


def _index_error(where: str, column: str, indices: Any, size: int) -> ValueError | None:
    import pyarrow.compute as pc

    if len(indices) == indices.null_count:
        return None
    low, high = (v.as_py() for v in pc.min_max(indices).values())
    if low < 0 or high >= size:
        return ValueError(
            f"{where}: column {column!r} has dictionary index "
            f"{high if high >= size else low} outside its dictionary of {size} values "
            "(a damaged file)"
        )
    return None


def dictionary_error(
    path: str | os.PathLike[str], footer: Footer | None = None
) -> ValueError | None:
    """The error naming the first row group and column of the file at `path` with a
    dictionary index outside its dictionary, or None when there is none."""
    import pyarrow as pa

    try:
        pf = open_file(path, footer)
    except (OSError, ValueError):
        return None
    names = [f.name for f in pf.schema_arrow if pa.types.is_dictionary(f.type)]
    for r in range(pf.metadata.num_row_groups):
        try:
            table = pf.read_row_group(r, columns=names)
        except (OSError, pa.ArrowException):
            return None
        for c in names:
            for chunk in table.column(c).chunks:
                where = f"{os.fspath(path)}: row group {r}"
                error = _index_error(where, c, chunk.indices, len(chunk.dictionary))
                if error is not None:
                    return error
    return None


def _check_timestamps(path: str | os.PathLike[str], table: Any) -> None:
    import pyarrow as pa

    if "timestamp" not in table.column_names or not pa.types.is_timestamp(
        table.schema.field("timestamp").type
    ):
        return
    stamps = one_array(table.column("timestamp"))
    raw = stamps.cast(pa.int64()).to_numpy(zero_copy_only=False)
    if stamps.null_count:
        raw = np.where(stamps.is_valid().to_numpy(zero_copy_only=False), raw, 0)
    error = ns_range_error(path, raw, stamps.type.unit, 0)
    if error is not None:
        raise error


def _read_table(
    path: str | os.PathLike[str],
    columns: Sequence[str] | None,
    footer: Footer | None,
) -> tuple[Any, Footer]:
    """The `columns` of the Parquet file at `path` that it has (all when None) as one
    pyarrow Table, and the file's footer; a damaged file raises ValueError naming it."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    name = os.fspath(path)
    try:
        if footer is None:
            footer = read_footer(path)
        pf = footer.file
        names = pf.schema_arrow.names
        wanted = list(names) if columns is None else [c for c in columns if c in names]
        meta = footer.metadata
        if meta.num_rows < BATCH_ROWS * meta.num_row_groups:
            # small row groups: one fragment each would cost more than it decodes
            table = pf.read(columns=wanted)
        else:
            # One fragment per row group: Arrow's scanner then decodes row groups on all
            # its threads (read_table decodes a column's row groups one after another),
            # and to_table keeps them in file order.
            whole = ds.dataset(path, format="parquet")
            parts = [rg for f in whole.get_fragments() for rg in f.split_by_row_group()]
            table = ds.FileSystemDataset(
                parts, whole.schema, whole.format, whole.filesystem
            ).to_table(columns=wanted)
        # One contiguous buffer per column from Arrow's memory pool, which it reuses
        # across reads; to_pandas then wraps them without copying (read-only arrays).
        table = table.combine_chunks()
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (OSError, pa.ArrowException, UnicodeDecodeError) as e:
        raise ValueError(f"{name}: not a readable Parquet file ({e})") from e
    return table, footer


def read_frame(
    path: str | os.PathLike[str],
    columns: Sequence[str] | None = None,
    *,
    ns_timestamps: bool = True,
    footer: Footer | None = None,
) -> pd.DataFrame:
    """The `columns` of the Parquet file at `path` that it has (all when None), read
    straight by pyarrow (row groups decoded in parallel, no block consolidation copy, no
    memory map). A damaged file, a dictionary index outside its dictionary, or (with
    `ns_timestamps`) a timestamp that nanoseconds cannot hold raises ValueError naming
    the file and row. Without `ns_timestamps` such timestamps are kept in their own
    unit (read_events then reports, or with errors="skip" skips, each such row)."""
    import pyarrow as pa

    name = os.fspath(path)
    table, footer = _read_table(path, columns, footer)
    if ns_timestamps:
        _check_timestamps(path, table)
    try:
        frame: pd.DataFrame = table.to_pandas(split_blocks=True, self_destruct=True)
    except pa.ArrowException as e:
        raise dictionary_error(path, footer) or ValueError(f"{name}: {e}") from e
    return frame


def read_parquet(path: Path, wanted: Sequence[str] | None = None) -> Raw:
    """The raw event columns of the Parquet file at `path`, or of the part files of the
    folder at `path` (see :func:`read_folder`), for read_events, which checks each
    timestamp row by row: one out of the nanosecond range is a row-level problem there.
    """
    if path.is_dir():
        return read_folder(path, wanted)
    return Raw(read_frame(path, wanted, ns_timestamps=False), str(path))


class SkippedPartWarning(UserWarning):
    """A part file of a Parquet folder was skipped: its footer is incomplete (a part
    still being written by a writer that does not write under a temporary name)."""


def part_files(folder: Path) -> list[Path]:
    """The Parquet part files of `folder` in name order (``*.parquet`` and ``*.pq``;
    hidden files and ``_``-prefixed ones such as ``_counters.json`` or ``_metadata``
    are not parts)."""
    return sorted(
        f
        for f in folder.iterdir()
        if f.suffix.lower() in (".parquet", ".pq")
        and not f.name.startswith((".", "_"))
        and f.is_file()
    )


def _footer_complete(path: Path) -> bool:
    """Whether the file ends in a whole Parquet footer (its length and the magic bytes);
    a file still being written has neither yet."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            if size < 12:
                return False
            fh.seek(size - 8)
            tail = fh.read(8)
    except OSError:
        return False
    length = int.from_bytes(tail[:4], "little")
    return tail[4:] == b"PAR1" and 0 < length <= size - 12


def read_folder(folder: Path, wanted: Sequence[str] | None = None) -> Raw:
    """The part files of the Parquet `folder` (as a :class:`perfstats.Recorder` writes
    them) read in name order into one raw table; parts with different columns are
    unified, a column a part lacks being missing in its rows. A part whose footer is
    incomplete (still being written) is skipped with a :class:`SkippedPartWarning`
    naming it; any other damaged part raises ValueError naming it."""
    import warnings

    pa = pyarrow_module()
    parts = part_files(folder)
    if not parts:
        raise ValueError(
            f"{folder} is a directory without Parquet part files (*.parquet); pass a "
            "file, or a folder of Parquet part files"
        )
    tables = []
    for part in parts:
        if not _footer_complete(part):
            warnings.warn(
                f"{part}: skipped, its Parquet footer is incomplete (a part still "
                "being written?)",
                SkippedPartWarning,
                stacklevel=4,
            )
            continue
        table, _ = _read_table(part, wanted, None)
        tables.append(table)
    if not tables:
        raise ValueError(f"{folder}: every Parquet part file is incomplete")
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
        frame = table.to_pandas()
    except pa.ArrowException as e:
        raise ValueError(f"{folder}: the part files do not combine ({e})") from e
    return Raw(frame, str(folder))


@dataclass
class RowGroups:
    """One batch of consecutive row groups, decoded and checked (see read_row_groups)."""

    n: int  # rows
    table: Any = None  # the pyarrow Table read
    nat: int | None = None  # row (in the batch) of the first missing timestamp
    timestamps: npt.NDArray[np.int64] | None = None  # ns since the epoch
    time_range: tuple[int, int] | None = None  # first and last timestamp (ns)
    dictionary: list[Any] = field(default_factory=list)  # the key's values, in order
    key_codes: npt.NDArray[np.integer[Any]] | None = None  # len(dictionary) = missing
    floats: npt.NDArray[np.float64] | None = None  # the float column, NaN = missing
    later: ValueError | None = None  # a damaged row group after these (raise after)


def read_row_groups(
    file: Any,
    path: str | os.PathLike[str],
    batch: list[int],
    first_row: int,
    n: int,
    columns: list[str],
    *,
    key: str | None,
    floats: str,
    bounds: tuple[int, int] | None = None,
    scratch: Any = None,
) -> RowGroups:
    """The row groups `batch` (consecutive, `n` rows from row `first_row`) of the open
    ParquetFile `file`, checked: `columns` read, timestamps in ns (into `scratch`, an
    object whose ``ts`` attribute this may set to a reusable int64 buffer), the `key`
    column's dictionary indices checked and as codes, `floats` as float64.

    A damaged row group raises ValueError naming it; when it follows good ones of the
    batch, those are returned with the error in ``later`` (errors come in row order).
    Timestamps outside `bounds` (ns, from the footer's statistics) raise
    :class:`OutsideStatistics`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    name = os.fspath(path)

    def where(rgs: list[int]) -> str:
        if len(rgs) == 1:
            return f"{name}: row group {rgs[0]}"
        return f"{name}: row groups {rgs[0]}-{rgs[-1]}"

    later: ValueError | None = None  # a damaged row group after the good ones
    try:
        table = file.read_row_groups(batch, columns=columns, use_threads=False)
    except (OSError, pa.ArrowException, UnicodeDecodeError) as e:  # damaged or shrunk
        if len(batch) == 1:
            raise ValueError(f"{where(batch)}: {e}") from e
        # the errors come in row order: the row groups before the damaged one are
        # added (and their own errors raised) first
        good: list[int] = []
        for r in batch:
            try:
                file.read_row_group(r, columns=columns, use_threads=False)
            except (OSError, pa.ArrowException, UnicodeDecodeError) as e_r:
                later = ValueError(f"{where([r])}: {e_r}")
                break
            good.append(r)
        if later is None:
            raise ValueError(f"{where(batch)}: {e}") from e
        if not good:
            raise later from e
        n = sum(file.metadata.row_group(r).num_rows for r in good)
        batch = good
        try:
            table = file.read_row_groups(batch, columns=columns, use_threads=False)
        except (OSError, pa.ArrowException) as e_good:
            raise ValueError(f"{where(batch)}: {e_good}") from e_good
    if table.num_rows != n:
        raise ValueError(
            f"{where(batch)}: {table.num_rows} rows where the footer says {n}"
        )
    stamps = one_array(table.column("timestamp"))
    if stamps.null_count:
        nulls = stamps.is_null().to_numpy(zero_copy_only=False)
        return RowGroups(n, table, nat=int(np.flatnonzero(nulls)[0]), later=later)
    raw = stamps.cast(pa.int64()).to_numpy()  # no copy
    low, high = (int(v) for v in pc.min_max(raw).values()) if n else (0, 0)
    unit = stamps.type.unit
    factor = NS_PER_UNIT[unit]
    limit = _NS.max // factor
    if factor != 1 and not -limit <= low <= high <= limit:
        error = ns_range_error(path, raw, unit, first_row)
        assert error is not None
        raise error
    if (
        bounds is not None
        and n
        and (low * factor < bounds[0] or high * factor > bounds[1])
    ):
        raise OutsideStatistics(where(batch))
    ts = raw
    if factor != 1:
        if scratch is None:
            ts = raw * factor
        else:
            if getattr(scratch, "ts", None) is None or len(scratch.ts) < n:
                scratch.ts = np.empty(n, np.int64)
            ts = np.multiply(raw, factor, out=scratch.ts[:n])
    dictionary: list[Any] = []
    codes = None
    if key is not None:
        column = table.column(key)
        if column.num_chunks > 1:
            column = column.unify_dictionaries()
        arr = one_array(column)
        dictionary = arr.dictionary.to_pylist()
        indices = arr.indices
        error = _index_error(where(batch), key, indices, len(dictionary))
        if error is not None:
            raise error
        if indices.null_count or not pa.types.is_signed_integer(indices.type):
            # nulls: the index after the dictionary (unsigned indices, as polars writes
            # them, cannot hold -1)
            indices = pc.fill_null(indices.cast(pa.int64()), len(dictionary))
        codes = indices.to_numpy()
    return RowGroups(
        n,
        table,
        timestamps=ts,
        time_range=(low * factor, high * factor) if n else None,
        dictionary=dictionary,
        key_codes=codes,
        floats=float_values(one_array(table.column(floats))),
        later=later,
    )
