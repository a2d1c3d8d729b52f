"""ICL-AIF: LLM bargaining with in-context learning from AI feedback (Fu et al. 2023)."""
