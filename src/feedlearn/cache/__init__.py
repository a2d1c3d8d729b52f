"""Cache part: trace-driven simulation, classic eviction policies, and (next) HALP."""
