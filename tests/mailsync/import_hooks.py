"""A stand-in for MAILSYNC_SLEEP in import tests: an import job paces itself between its
steps through MAILSYNC_SLEEP, so each wait there is a moment "between two batches". Tests
say what happens at those moments (a look at the progress page, a click on Cancel, a
worker killed); the wait itself is recorded, never slept."""

from collections.abc import Callable

from core.testing import record_sleep

# Called at every pause, in order.
AT_EACH_PAUSE: list[Callable[[], None]] = []
PATH = "tests.mailsync.import_hooks.sleep_then_act"


class WorkerKilled(BaseException):
    """The worker process dies here: nothing of ours catches it (a BaseException), and
    nothing after it in the run happens, as with a SIGKILL."""


def sleep_then_act(seconds: float) -> None:
    record_sleep(seconds)
    for action in list(AT_EACH_PAUSE):
        action()


def once(condition: Callable[[], bool], action: Callable[[], None]) -> None:
    """At the first pause where `condition` holds, do `action` (once)."""
    done: list[bool] = []

    def act() -> None:
        if not done and condition():
            done.append(True)
            action()

    AT_EACH_PAUSE.append(act)


def kill_worker() -> None:
    raise WorkerKilled
