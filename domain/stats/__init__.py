"""Analytics queries: the query model, the query service with its cache, funnels, retention, journeys."""
