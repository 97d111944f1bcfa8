"""Hand-off to other LLM apps: LangChain (loader, retriever, tools, chat model) and an MCP server.

Each module imports its framework when imported: ``pip install 'vctext[integrations]'``.
"""
