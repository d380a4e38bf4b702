"""cxpulse streams."""
