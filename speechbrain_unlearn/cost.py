"""The cost of a stage: wall time, peak memory and gradient evaluations.

* ``time_s``: wall-clock seconds;
* ``peak_mem_mb``: on CUDA the peak of ``torch.cuda.max_memory_allocated``
  during the stage; on CPU the peak resident set size of the process,
  sampled every 20 ms (``/proc/self/statm``), so it includes everything the
  process holds (data, other models), not only the stage's share;
* ``grad_evals``: utterance-gradient evaluations, i.e. the number of
  utterances whose loss went through a backward pass (a Hessian- or
  Gauss-Newton-vector product counts two). Every place in this package that
  differentiates a loss calls :func:`count_gradients`. Under torchrun the
  count is summed over the processes (each differentiates its own share).

Example
-------
>>> with CostMeter() as meter:
...     count_gradients(32)
...     count_gradients(8, passes=2)
>>> meter.result()["grad_evals"]
48
>>> meter.result()["time_s"] >= 0
True
"""

import os
import threading
import time

import torch
from speechbrain.utils.distributed import ddp_all_reduce

_COUNT = [0]


def count_gradients(n, passes=1):
    """Record ``n`` utterances differentiated ``passes`` times."""
    _COUNT[0] += int(n) * int(passes)


def gradient_count():
    """Utterance-gradient evaluations counted so far in this process."""
    return _COUNT[0]


def _rss_mb():
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class CostMeter:
    """Context manager measuring one stage (see the module docstring)."""

    def __init__(self, interval=0.02):
        self.interval = interval
        self.cuda = torch.cuda.is_available() and torch.cuda.is_initialized()

    def _sample(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, _rss_mb())

    def __enter__(self):
        self.start, self.count0, self.end = time.time(), gradient_count(), None
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        self.peak = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.end = time.time()
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())
        # every process runs the stage on its share: the total (a no-op without DDP or on the main process only)
        count = torch.tensor(gradient_count() - self.count0, dtype=torch.int64)
        self.grad_evals = int(ddp_all_reduce(count, torch.distributed.ReduceOp.SUM))
        if self.cuda:
            self.peak = torch.cuda.max_memory_allocated() / 2**20
        return False

    def result(self, time_s=None):
        """``{time_s, peak_mem_mb, grad_evals}`` (``time_s`` may be given, e.g. net of other work)."""
        elapsed = (self.end or time.time()) - self.start
        return {
            "time_s": round(elapsed if time_s is None else time_s, 3),
            "peak_mem_mb": round(self.peak, 1),
            "grad_evals": int(self.grad_evals),
        }


def sum_costs(costs):
    """The total time and gradient evaluations and the largest peak memory of several stages (``None`` if none).

    Example
    -------
    >>> a = {"time_s": 1.0, "peak_mem_mb": 5.0, "grad_evals": 2}
    >>> sum_costs([a, {"time_s": 2.0, "peak_mem_mb": None, "grad_evals": 3}])
    {'time_s': 3.0, 'peak_mem_mb': 5.0, 'grad_evals': 5, 'models': 2}
    """
    if not costs:
        return None
    peaks = [c["peak_mem_mb"] for c in costs if c["peak_mem_mb"] is not None]
    return {
        "time_s": round(sum(c["time_s"] for c in costs), 3),
        "peak_mem_mb": max(peaks) if peaks else None,
        "grad_evals": sum(c["grad_evals"] for c in costs),
        "models": len(costs),
    }
