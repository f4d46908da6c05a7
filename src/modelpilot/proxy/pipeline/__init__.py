"""The stages of one proxied request, in order (``proxy/exchange.py`` runs them):

1. read     ``pipeline/read.py``             the caller's body: one loop, limits, gzip/deflate, JSON
2. plan     ``features/wire_request.py``     local features and what is sent to the control plane
3. decide   ``decisions.py``, ``routing.py`` cache, breaker, the control-plane client; the route plan
4. attempt  ``pipeline/attempt.py``          a routed attempt, checked; why it is escalated if not
5. relay    ``pipeline/relay.py``            the answer to the caller; commits the charge before
                                             the caller's last byte (the only place that does)
6. meter    ``pipeline/meter.py``            the record as a charge: spool, metadata log, OTLP, metrics

Contract: a stage imports only earlier stages (``tests/test_layers.py`` checks it), and each one
is usable alone through the ``UpstreamClient`` seam (``proxy/upstream.py``).
"""
