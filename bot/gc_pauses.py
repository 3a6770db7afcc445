"""Keep Python's full garbage collections short in the long-running services (Rasa, action server, hub).

A full (generation 2) collection walks every container object alive, and the process answers nobody while it
does. What a service builds at start-up (Rasa's TensorFlow model, the search index, imported modules: millions
of objects in Rasa) stays alive for the whole run, so walking it again and again finds nothing: measured under
load it stalled Rasa for 0.2-0.6 s at a time, the action server and the hub for 60-150 ms, each stall holding
every message in flight.

`freeze_long_lived()` collects once and then moves everything alive into the permanent generation
(`gc.freeze()`, as CPython's documentation suggests for servers); later collections walk only what was created
since. `thaw()` hands the frozen objects back to the collector before a long-lived part is replaced (a new model),
so the old one can be freed. Standard library only: Rasa's environment imports this module too.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)


def freeze_long_lived(what: str) -> int:
    """Collect, then exempt every object alive now from later collections; returns how many are frozen."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    seconds = time.perf_counter() - started
    log.info("%s: %d objects moved out of the garbage collector's way in %.2f s", what, frozen, seconds)
    return frozen


def thaw() -> None:
    """Make the frozen objects collectable again (before what they belong to is replaced)."""
    gc.unfreeze()
