import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def plugins():
    from tests import plugins as p

    p.CALLS.clear()
    p.SEEN.clear()
    p.INTERRUPT_AFTER.clear()
    return p
