"""The API's routers, one module per resource: ``/alerts``, ``/shipments``, ``/health`` and
``/metrics``; `api.app.create_app` mounts them."""
