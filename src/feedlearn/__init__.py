"""feedlearn: learning from feedback — learned cache eviction, LLM fine-tuning, ZeRO++, LLM bargaining."""

__version__ = "0.1.0"
