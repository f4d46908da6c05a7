"""The routing policy (DESIGN.md §3): which catalog models can serve a request, how likely each is
to succeed, which one a deployment's settings choose, and the sentence that says why.

- :mod:`.settings`: a deployment's :class:`~.settings.RoutingSettings` (mode, quality target,
  allowed models, category rules, pins, metadata logs) and their catalog checks;
- :mod:`.candidates`: cheaper, current, capable models for one request, cheapest first;
- :mod:`.prior`: the offline prior from the proxy's features (``data/prior.json``);
- :mod:`.outcomes`: the deployment's own routed outcomes from its aggregates, cached per process;
- :mod:`.estimate`: prior + Beta posterior, with an upper credible bound for exploration;
- :mod:`.choose`: the choice itself; :mod:`.explain`: its one-sentence explanation.

:func:`modelpilot.control.routing.decide_route` applies the deployment's mode to the choice.
"""
