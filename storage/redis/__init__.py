"""Redis implementations of the KeyValue and Bus ports (redis-py asyncio with hiredis)."""
