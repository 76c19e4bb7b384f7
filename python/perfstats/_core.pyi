# Type stubs for the private C++ extension perfstats._core (checked by mypy.stubtest).
__version__: str

# ---- changepoints ----
import numpy as np
import numpy.typing as npt

def detect_changepoints(
    values: npt.ArrayLike,
    *,
    method: str,
    min_size: int,
    pvalue: float,
    penalty: float,
    max_changepoints: int,
    autocorrelation: bool,
) -> dict[str, npt.NDArray[np.float64] | npt.NDArray[np.int64]]: ...
def energy_statistic(values: npt.ArrayLike) -> npt.NDArray[np.float64]: ...
