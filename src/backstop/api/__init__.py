"""The backstop HTTP service (design §11): FastAPI around the same engine, durable and exactly-once."""
