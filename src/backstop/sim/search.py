"""`np.searchsorted(table, keys, side="left")` for many unsorted keys and a small sorted table.

NumPy's binary search costs a branch misprediction per level when the keys come in no order
(about 40 ns a key on a table of a few hundred entries). Here a uniform grid over the table's
range (with a margin of a few cells) gives most keys their answer directly: for the cell a key
falls in, the answers at the edges one cell further out on either side are precomputed, and when
they agree that is the answer (the count of table entries below a key is monotone in the key, so
a slip of the computed cell by rounding cannot matter). A key beyond the grid is clipped to its
end cell, whose bounds are 0 or len(table) on both sides. The few keys near a table entry, and
NaN keys, go to `np.searchsorted`. The result is the same array, always.
"""

from __future__ import annotations

import numpy as np

CELLS = 4096
MARGIN = 4


def searchsorted_left(table: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Exactly `np.searchsorted(table, keys, side="left")` for a sorted float `table` without NaN."""
    n = len(table)
    if n < 2 or len(keys) < 4 * CELLS:
        return np.searchsorted(table, keys, side="left")
    lo, hi = float(table[0]), float(table[-1])
    if not (np.isfinite(lo) and np.isfinite(hi)) or not hi > lo:
        return np.searchsorted(table, keys, side="left")
    width = (hi - lo) / (CELLS - 2 * MARGIN)
    start = lo - MARGIN * width
    scale = 1.0 / width
    # cell g covers [start + g·width, start + (g + 1)·width); its bounds are the answers at the edges of
    # cells g - 1 and g + 2 (edges -1 .. CELLS + 2)
    at_edge = np.searchsorted(table, start + np.arange(-1, CELLS + 3) * width, side="left")
    low_bound, high_bound = at_edge[:-3], at_edge[3:]
    if not (low_bound[0] == high_bound[0] == 0 and low_bound[-1] == high_bound[-1] == n):
        return np.searchsorted(table, keys, side="left")  # a range too narrow for its magnitude
    with np.errstate(invalid="ignore"):
        cell = (keys - start) * scale
    np.fmax(cell, 0.0, out=cell)  # NaN becomes 0 here; NaN keys are sent to np.searchsorted below
    np.fmin(cell, float(CELLS), out=cell)
    g = cell.astype(np.intp)
    out = low_bound[g]
    unsure = np.flatnonzero((out != high_bound[g]) | (keys != keys))
    if len(unsure):
        out[unsure] = np.searchsorted(table, keys[unsure], side="left")
    return out
