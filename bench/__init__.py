"""The cxpulse benchmark harness: ``python -m bench run --help``; see docs/performance.md."""
