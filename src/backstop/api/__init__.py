"""The backstop HTTP service: FastAPI around the same engine, durable and exactly-once (docs/service.md).

`app` composes the application; `routes/` holds the HTTP routes; `service` the core (group
commit over the store), `jobs` the risk-lab jobs, `errors` the error statuses; `cli` the
`serve` and `keys` commands.
"""
