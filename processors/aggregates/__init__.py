"""The analysis tier's intake: trace-tier aggregates merged back into series intervals."""
