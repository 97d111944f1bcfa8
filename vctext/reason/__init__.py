"""Reasoning over a video's text with an LLM: ask, chat and narrate (:mod:`.ask`, :mod:`.chat`),
fitting the text to a model's context (:mod:`.fit`, :mod:`.compact`, :mod:`.relevance`) and the
prompts every call is built from (:mod:`.prompts`). The LLM backends themselves are
:mod:`vctext.llm`.
"""
