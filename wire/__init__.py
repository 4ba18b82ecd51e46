"""The box↔cloud link protocol: sans-I/O core plus thin asyncio/aioquic adapters for both ends."""
