# SPDX-License-Identifier: GPL-3.0-or-later
"""The module's OutputWatch: the run is interrupted when this module's output loses its reader (a dropped SSH
connection without a pty, a killed controller), and only then."""

from __future__ import annotations

import os
import signal
import tempfile
import time

import pytest

from ansible_collections.ebpf.bcc.plugins.modules import funccount


@pytest.fixture
def hangups():
    """Records SIGHUPs sent to this process instead of letting them end it."""
    seen = []
    old = signal.signal(signal.SIGHUP, lambda signum, frame: seen.append(signum))
    funccount.OutputWatch.lost = False
    del funccount._SIGNALLED[:]
    yield seen
    signal.signal(signal.SIGHUP, old)
    funccount.OutputWatch.lost = False
    del funccount._SIGNALLED[:]


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def test_a_closed_reader_interrupts_the_run(hangups):
    read_end, write_end = os.pipe()
    try:
        funccount.OutputWatch(write_end).start()
        time.sleep(0.2)
        assert hangups == [] and funccount.OutputWatch.lost is False
        os.close(read_end)
        assert wait_for(lambda: hangups == [signal.SIGHUP])
        assert funccount.OutputWatch.lost is True
    finally:
        os.close(write_end)


def test_the_message_names_the_lost_connection(hangups):
    funccount.OutputWatch.lost = True
    with pytest.raises(funccount.Interrupted) as info:
        funccount._on_signal(signal.SIGHUP, None)
    assert info.value.msg == funccount.LOST_MSG
    assert funccount._SIGNALLED == [signal.SIGHUP]
    funccount.OutputWatch.lost = False
    with pytest.raises(funccount.Interrupted) as info:
        funccount._on_signal(signal.SIGTERM, None)
    assert info.value.msg == 'The run was interrupted by signal 15; everything it had attached was detached.'


def test_no_interruption_once_the_run_is_over_or_already_interrupted(hangups):
    for stop in ('inactive', 'signalled'):
        read_end, write_end = os.pipe()
        watch = funccount.OutputWatch(write_end)
        if stop == 'inactive':
            watch.active = False
        else:
            funccount._SIGNALLED.append(signal.SIGTERM)
        watch.start()
        os.close(read_end)
        time.sleep(0.5)
        os.close(write_end)
        assert hangups == [] and funccount.OutputWatch.lost is False, stop


def test_files_and_dev_null_never_lose_their_reader(hangups):
    with tempfile.TemporaryFile() as handle, open(os.devnull, 'w') as null:
        funccount.OutputWatch(handle.fileno()).start()
        funccount.OutputWatch(null.fileno()).start()
        time.sleep(0.5)
    assert hangups == []


def test_a_closed_descriptor_is_not_watched(hangups):
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)
    funccount.OutputWatch(write_end).start()
    time.sleep(0.3)
    assert hangups == []
