"""leakaudit: a cross-account leakage auditor for camera and IoT clouds."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("leakaudit")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
