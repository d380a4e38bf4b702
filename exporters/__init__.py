"""cxpulse exporters."""
