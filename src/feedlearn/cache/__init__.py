"""Cache part: trace-driven simulation, classic eviction policies, LRB, HALP and a live in-process cache."""
