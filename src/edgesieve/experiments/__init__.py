"""Experiments: training helpers and the protocols that compare selectors on real data."""
