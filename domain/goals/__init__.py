"""Goals: what counts as a conversion on a site (an event name or a page pattern), with conversion rates
and revenue sums per currency, computed over the EventStore port."""
