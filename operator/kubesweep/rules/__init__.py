"""The decision's rules, one step each, applied in this order by reconcile.decide over one
`passes.Pass`:

- `notices`: what the spec means, told as events (invalid, its search space, reserved keys);
- `ended`: runs that ended, recorded once;
- `stops`: runs a person stopped, killed gracefully;
- `cancel`: a cancelled sweep's runs killed at once (settles the pass);
- `hyperband`: runs below their band's threshold stopped early;
- `holds`: paused, stopped, out of its failure budget, its template rejected (may settle it);
- `start`: runs started as parallelism, runCap and the search allow (settles it);
- `finish`: the releases, the status (`status`, an api.SweepStatus) and the pass's events.

`spec`, `reasons` and `history` are what the rules read: the parsed spec, the reasons and
messages they give, and what the runs so far say (best run, target, runCap, trials)."""
