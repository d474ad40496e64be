"""The shared job layer: chat replies, images, captions and document ingestion all run through it.

A job is a database row (:class:`models.Job`), submitted with :func:`services.job_submit` after the caller's
transaction commits, woken up in a worker by :mod:`backends`, claimed fairly by :mod:`scheduling`, run with a
heartbeat and a cancel flag by :mod:`runner`, reporting through :class:`events.EventStream`, and failed by
:mod:`sweep` when its worker dies. docs/architecture.md walks through it.
"""
