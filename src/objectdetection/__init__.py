"""The aggregator: fans frames out to the detectors, merges their boxes, answers both protocols."""
