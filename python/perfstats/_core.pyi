# Type stubs for the private C++ extension perfstats._core (checked by mypy.stubtest).
__version__: str
