"""The regression processor: baselines, version comparisons, change points, benchmarks."""
