"""One way to speak: the edgesuite logger, its console handler, log= receivers and progress bars."""

import logging

from edgesuite.common import log


def test_the_console_prints_info_to_stdout_and_warnings_to_stderr(capsys):
    log.install_console()
    log.install_console()  # once: a second call adds no second handler
    assert sum(isinstance(h, log.ConsoleHandler) for h in log.LOGGER.handlers) == 1
    log.say("trained 3 epochs")
    log.warn("warning: 2 files skipped")
    out = capsys.readouterr()
    assert out.out == "trained 3 epochs\n" and out.err == "warning: 2 files skipped\n"


def test_a_receiver_takes_every_message_in_place_of_the_console(capsys):
    got = []
    with log.forwarded_to(got.append):
        log.say("epoch 1")
        logging.getLogger("edgesuite.apps.translation.task").info("a child logger's message")
        log.warn("careful")
    log.say("after the block")
    assert got == ["epoch 1", "a child logger's message", "careful"]
    assert capsys.readouterr().out == "after the block\n"


def test_progress_bars_follow_the_logger():
    logger = logging.getLogger("edgesuite")
    level = logger.level
    try:
        assert not log.progress(range(2), total=2).disable
        assert log.progress(range(2), total=2, disable=True).disable
        logger.setLevel(logging.WARNING)  # a notebook silencing edgesuite silences its bars too
        assert log.progress(range(2), total=2).disable
    finally:
        logger.setLevel(level)
    with log.forwarded_to(lambda _: None):
        assert log.progress(range(2), total=2).disable
