"""Pure KPI arithmetic: formulas over summed counters, no I/O, no clock."""
