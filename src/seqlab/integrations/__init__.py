"""Adapters that let other frameworks use seqlab runs (``langchain.py``: LangChain's LLM and Runnables)."""
