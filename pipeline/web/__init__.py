"""The analysts' review application (``vessel-risk serve``): queue, alert with its map,
vessel, watchlist, run health and accounts, served by FastAPI with server-rendered pages on
the alert store. Entry point: ``pipeline.web.app.create_app``."""
