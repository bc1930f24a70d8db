import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# Tests never download: a missing weights file is the offline error (the download tests serve files on loopback and
# lift this for themselves).
os.environ["INPAINT_BENCH_OFFLINE"] = "1"


@pytest.fixture
def plugins():
    from tests import plugins as p

    p.CALLS.clear()
    p.SEEN.clear()
    p.INTERRUPT_AFTER.clear()
    return p


@pytest.fixture
def one_thread():
    """One torch thread for the test: on a shared, loaded machine OpenMP with 2 threads runs the metric networks
    10-30x slower than with 1."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
