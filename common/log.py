"""One way to speak: every message of edgesuite goes to the ``edgesuite`` logger (Python ``logging``).

``say`` is the default ``log`` callable of the driver, the exporter and the loaders; modules may also log to
``logging.getLogger(__name__)`` (a child of ``edgesuite``). Importing edgesuite installs one console handler on
that logger, the way a command-line tool speaks: INFO to stdout, warnings and errors to stderr, the message
alone. A notebook or a program redirects or silences it with the standard tools::

    logging.getLogger("edgesuite").setLevel(logging.WARNING)        # only warnings, and no progress bars
    logging.getLogger("edgesuite").handlers.clear()                 # nothing on the console
    with edgesuite.common.log.forwarded_to(messages.append): ...    # what edgesuite.train(log=...) does
"""

from __future__ import annotations

import contextlib
import logging
import sys

LOGGER = logging.getLogger("edgesuite")


def say(message: str) -> None:
    """An INFO message of the ``edgesuite`` logger: the driver's, the exporter's and the apps' voice."""
    LOGGER.info(message)


def warn(message: str) -> None:
    """A WARNING of the ``edgesuite`` logger (stderr on the console)."""
    LOGGER.warning(message)


def progress(iterable=None, **options):
    """A tqdm bar (stderr) that respects the logger: none while the ``edgesuite`` logger is above INFO or a
    ``forwarded_to`` block replaces the console (``disable`` given still wins when True)."""
    from tqdm import tqdm

    quiet = not LOGGER.isEnabledFor(logging.INFO) or bool(ConsoleHandler.muted)
    return tqdm(iterable, **{**options, "disable": quiet or bool(options.get("disable"))})


class ConsoleHandler(logging.Handler):
    """Messages as a command-line tool prints them; the streams are looked up when a message is written, so a
    redirected ``sys.stdout`` (pytest's capture, a notebook cell) receives them."""

    muted = 0  # > 0 while a forwarded_to block has a receiver that replaces the console

    def emit(self, record: logging.LogRecord) -> None:
        if ConsoleHandler.muted:
            return
        try:
            stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # a closed stream must not stop a run
            self.handleError(record)


def install_console() -> None:
    """The console handler on the ``edgesuite`` logger, once (at import of the package)."""
    if any(isinstance(h, ConsoleHandler) for h in LOGGER.handlers):
        return
    handler = ConsoleHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    LOGGER.addHandler(handler)
    if LOGGER.level == logging.NOTSET:
        LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False  # the root logger's handlers would print every message a second time


class _Forward(logging.Handler):
    def __init__(self, receiver):
        super().__init__()
        self.receiver = receiver

    def emit(self, record: logging.LogRecord) -> None:
        self.receiver(record.getMessage())


@contextlib.contextmanager
def forwarded_to(receiver, replace_console: bool = True):
    """Every message of the ``edgesuite`` logger inside the block goes to ``receiver(text)``; with
    ``replace_console`` the console handler is quiet meanwhile (``log=`` takes the place of the terminal)."""
    handler = _Forward(receiver)
    LOGGER.addHandler(handler)
    ConsoleHandler.muted += bool(replace_console)
    try:
        yield
    finally:
        ConsoleHandler.muted -= bool(replace_console)
        LOGGER.removeHandler(handler)
