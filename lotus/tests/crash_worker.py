"""``python -m lotus.tests.crash_worker relay|consume SERVICE``: a worker that dies mid-step.

The relay kills itself with SIGKILL after the broker acknowledged a batch but before the
rows are marked sent; the consumer after the database commit of a batch but before the
offset commit (of the batch that applied ``LOTUS_CRASH_AFTER`` when that message id is set,
since the topic may hold earlier tests' records). Tests then assert on effects that the redelivery changed nothing.
"""

import os
import signal
import sys

import django


def suicide() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def main(role: str, service: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lotus.settings")
    django.setup()
    from lotus.messaging.consumer import Consumer
    from lotus.messaging.relay import Relay
    from lotus.tests.support import ECHO

    if role == "relay":

        class CrashingRelay(Relay):
            def mark_sent(self, rows):
                print(f"produced {len(rows)}", flush=True)
                suicide()

        CrashingRelay(service).run()
    else:
        from lotus.messaging.models import InboxMessage
        from lotus.topology import alias_for

        target = os.environ.get("LOTUS_CRASH_AFTER")

        class CrashingConsumer(Consumer):
            def commit(self, positions):
                inbox = InboxMessage.objects.using(alias_for(service))
                if target and not inbox.filter(message_id=target).exists():
                    return super().commit(positions)
                print(f"applied {self.counts_total()}", flush=True)
                suicide()

        CrashingConsumer(service, ECHO).run()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
