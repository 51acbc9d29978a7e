"""SLOs: latency, availability and throughput objectives, error budgets, burn-rate alerts."""
