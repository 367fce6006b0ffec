import numpy as np
import numpy.typing as npt

def windows(
    ts: npt.NDArray[np.int64],
    vs: npt.NDArray[np.float64],
    offsets: npt.NDArray[np.int64],
    gids: npt.NDArray[np.uint32],
    order: npt.NDArray[np.int64],
    e0: int,
    step: int,
    rng: int,
    steps: int,
    fn: int,
    op: int,
    total: npt.NDArray[np.float64],
    count: npt.NDArray[np.float64],
) -> None: ...
