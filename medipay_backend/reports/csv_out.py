"""CSV text for the reports: a header line, then one line per row (streams)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any


def iter_csv(fields: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """Lines of CSV text (`\\n` endings), the header first; `rows` may be a generator."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n",
                            extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        yield _take(buffer)
        writer.writerow(row)
    yield _take(buffer)


def to_csv(fields: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    return "".join(iter_csv(fields, rows))


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
