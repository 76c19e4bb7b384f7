"""CSV and TSV files (pyarrow's CSV reader, with file lines named in messages)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from perfstats.io.frame import arrow_to_pandas
from perfstats.io.schema import Problem, Raw, pyarrow_module
from perfstats.io.text import encoding_of


def read_csv(
    path: Path, *, delimiter: str | None, text_columns: Sequence[str] = ()
) -> Raw:
    pa = pyarrow_module()
    import pyarrow.csv as pacsv

    problems: list[Problem] = []

    def on_bad_row(row: Any) -> str:
        problems.append(
            Problem(
                row=None,
                line=row.number,
                column="",
                reason=(
                    f"malformed CSV line ({row.actual_columns} fields, "
                    f"expected {row.expected_columns})"
                ),
                value=str(row.text)[:200],
            )
        )
        return "skip"

    if delimiter is None:
        delimiter = "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","

    encoding = _file_encoding(path)

    block = 1 << 20  # pyarrow's default block size

    def read(threads: bool) -> Any:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                use_threads=threads, encoding=encoding, block_size=block
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, invalid_row_handler=on_bad_row
            ),
            # A column with one bad value stays text: the canonical conversion then
            # names the row instead of the whole read failing.
            # identifiers stay text: "00042" is not the number 42
            convert_options=pacsv.ConvertOptions(
                strings_can_be_null=True,
                column_types={c: pa.string() for c in text_columns},
            ),
        )

    try:
        table = None
        while table is None:
            try:
                table = read(True)
            except pa.ArrowInvalid as exc:
                # a record longer than a block: larger blocks (the whole file first)
                if "straddling" not in str(exc) or block >= 2**30:
                    raise
                problems.clear()
                block = min(max(path.stat().st_size + 1, 2 * block), 2**30)
        if any(p.line is None for p in problems):
            # threaded parsing does not know line numbers; find them on one thread
            problems.clear()
            table = read(False)
        binary = [
            f.name
            for f in table.schema
            if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)
        ]
        if binary:  # the reader keeps a column with bytes that are not UTF-8 as bytes
            line = _first_non_utf8_line(path) if encoding == "utf8" else None
            at = f"line {line}, " if line is not None else ""
            raise ValueError(
                f"{path}: not UTF-8 text ({at}column {binary[0]!r}); save the "
                "file as UTF-8"
            )
        frame = arrow_to_pandas(table)  # column names are decoded here
    except (pa.ArrowException, UnicodeError, OSError, EOFError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "Empty CSV file" in message:
            raise ValueError(f"{path}: empty CSV file (no header line)") from exc
        # pyarrow decodes a malformed row before calling the handler: bytes that are
        # not UTF-8 there fail the read (and print "Exception ignored" to stderr)
        line = _first_non_utf8_line(path) if encoding == "utf8" else None
        if isinstance(exc, UnicodeError) or "invalid UTF8" in message or line:
            at = f" (line {line})" if line is not None else ""
            raise ValueError(
                f"{path}: not UTF-8 text{at}; save the file as UTF-8"
            ) from exc
        raise ValueError(f"{path}: not a readable CSV file ({message})") from exc
    scanned: list[tuple[list[int], list[int]] | None] = []

    def scan() -> tuple[list[int], list[int]] | None:
        if not scanned:  # once, and only when a record needs its line
            scanned.append(_csv_record_lines(path, delimiter, encoding))
        return scanned[0]

    if problems:
        # the reader numbers records, not lines (blank lines and quoted line breaks
        # shift them); the lines come from a scan of the file
        found = scan()
        if found is not None and len(found[1]) == len(problems):
            problems = [
                Problem(p.row, line, p.column, p.reason, p.value)
                for p, line in zip(problems, found[1], strict=True)
            ]

    def find_lines(n: int) -> list[int] | None:
        found = scan()
        return found[0] if found is not None and len(found[0]) == n else None

    raw = Raw(frame, str(path), problems)
    raw.find_lines = find_lines
    return raw


def _first_non_utf8_line(path: Path) -> int | None:
    """The 1-based line of the first bytes that are not UTF-8, if any."""
    try:
        if path.suffix.lower() == ".gz":
            import gzip

            with gzip.open(path, "rb") as fh:
                data = fh.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError):
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return 1 + data.count(b"\n", 0, exc.start)
    return None


def _file_encoding(path: Path) -> str:
    """The encoding a plain file's byte-order mark announces (UTF-8 without one)."""
    if path.suffix.lower() in (".gz", ".bz2", ".zst", ".xz"):
        return "utf8"
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return "utf8"
    encoding = encoding_of(head)
    return "utf8" if encoding.startswith("utf-8") else encoding


def _csv_record_lines(
    path: Path, delimiter: str, encoding: str
) -> tuple[list[int], list[int]] | None:
    """The 1-based file line where each record starts (the header is line 1; a
    quoted field may span lines): of the records read, and of the malformed ones
    (a field count unlike the header's). None when the file cannot be scanned; then
    messages fall back to record numbers."""
    import csv

    if path.suffix.lower() in (".bz2", ".zst", ".xz"):
        return None
    good: list[int] = []
    bad: list[int] = []
    try:
        if path.suffix.lower() == ".gz":
            import gzip

            fh: Any = gzip.open(path, "rt", encoding="utf-8-sig", newline="")
        else:
            enc = "utf-8-sig" if encoding == "utf8" else encoding
            fh = path.open(encoding=enc, errors="replace", newline="")
        with fh:
            reader = csv.reader(fh, delimiter=delimiter)
            width = None
            end = 0
            for record in reader:
                start, end = end + 1, reader.line_num
                if not record:
                    continue  # a blank line, skipped by the CSV reader too
                if width is None:
                    width = len(record)
                else:
                    (good if len(record) == width else bad).append(start)
    except (csv.Error, OSError, EOFError, UnicodeError):
        return None
    return good, bad
