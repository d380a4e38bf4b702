"""cxpulse processors."""
