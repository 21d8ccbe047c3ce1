"""Unit: settle_heap freezes start-up objects and makes young collections rarer."""

import gc

from lotus.runtime import YOUNG_THRESHOLD, settle_heap


def test_settle_heap_freezes_what_start_up_made_and_raises_the_young_threshold():
    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 1000  # Django and the apps are loaded in the test process
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
