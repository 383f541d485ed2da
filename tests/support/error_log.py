"""Failing a test on ERROR log records it did not expect: a handler on the root logger collects every
in-process record at ERROR or above while a test runs (its fixtures' set-up and teardown included), and
the test fails unless each came from a logger its `expect_errors` marker names. Eddy processes started
as subprocesses log to their own files: this covers only the test's own process."""

from __future__ import annotations

import logging
import threading

import pytest

MARKER = "expect_errors"  # declared in pyproject.toml


class ErrorRecords(logging.Handler):
    """Keeps the records at ERROR and above (from any thread)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            self.records.append(record)


def expected_loggers(item: pytest.Item) -> tuple[str, ...]:
    """The logger names the test's `expect_errors` markers allow (every marker counts)."""
    names: list[str] = []
    for marker in item.iter_markers(MARKER):
        if not marker.args:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.{MARKER} needs the loggers it expects")
        names.extend(marker.args)
    return tuple(names)


def unexpected(records: list[logging.LogRecord], allowed: tuple[str, ...]) -> list[logging.LogRecord]:
    """The records that no allowed logger name covers (a name covers itself and its children)."""
    return [
        record
        for record in records
        if not any(record.name == name or record.name.startswith(name + ".") for name in allowed)
    ]


def describe(records: list[logging.LogRecord]) -> str:
    """One line per record (with the exception's type and message), for the failure."""
    lines = []
    for record in records:
        line = f"{record.name} {record.levelname}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            line += f" ({type(error).__name__}: {error})"
        lines.append(line)
    return "\n".join(lines)
