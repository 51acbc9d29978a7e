"""Bottlenecks: critical paths, self times and N+1 / parallelizable call patterns in traces."""
