"""A stand-in for CuPy in the NCCL transport tests on the emulated CUDA device (whose "device
memory" is host memory): ``cupy.cuda`` streams and events that complete at once, and a
``cupy.cuda.nccl`` whose communicator reduces the memory behind a device pointer over MPI.
Put ``tests/mpi/fake_cupy`` on ``PYTHONPATH`` to use it; never installed."""

from . import cuda

__version__ = "0.0+fake"
__all__ = ["cuda"]
