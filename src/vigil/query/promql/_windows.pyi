import numpy as np
import numpy.typing as npt

def windows(
    t_chunks: list[npt.NDArray[np.int64]],
    v_chunks: list[npt.NDArray[np.float64]],
    chunk: npt.NDArray[np.int64],
    starts: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
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
