"""The process: config, supervisor and router, LLM pool, snapshot store, control socket, logging,
adapters and the CLI. The only layer that knows about discord.py, HTTP, SQLite, sockets, files.
"""
