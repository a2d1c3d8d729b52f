"""feedlearn.tune: an LMFlow-style fine-tuning pipeline for causal LMs (see README.md)."""
