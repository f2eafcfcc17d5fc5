"""The main thread's sleep while the bot serves: woken by stop() and by signals at once."""

from __future__ import annotations

import select
import signal
import socket
import threading


class MainSleep:
    """Block until an event is set, still letting signal handlers run at once.

    CPython runs a signal's Python handler only in the main thread, and a signal the
    kernel hands to another thread (it may: they all accept SIGTERM) does not wake a
    main thread asleep in Event.wait(): SIGTERM was then ignored until SIGKILL. So the
    main thread sleeps in select() on the signal wakeup fd, which any thread's signal
    writes to (wake() writes to it too)."""

    def __init__(self) -> None:
        self._wake: socket.socket | None = None

    def until(self, stopped: threading.Event) -> None:
        if threading.current_thread() is not threading.main_thread():
            stopped.wait()  # run in a thread (tests): signals are not ours to handle
            return
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        self._wake = writer
        try:
            while not stopped.is_set():
                select.select([reader], [], [])
                try:
                    reader.recv(512)
                except BlockingIOError:
                    pass
        finally:
            signal.set_wakeup_fd(previous)
            self._wake = None
            reader.close()
            writer.close()

    def wake(self) -> None:
        """Wake the main thread (after setting its event)."""
        wake = self._wake
        if wake is not None:
            try:
                wake.send(b"\0")
            except OSError:  # closed meanwhile, or full: the main thread is awake anyway
                pass
