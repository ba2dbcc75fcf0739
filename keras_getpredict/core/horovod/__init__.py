"""What crosses Horovod ranks, and the one bounded, checked path it takes.

When Horovod runs with more than one rank (`families.horovod_if_active`; Horovod is never
imported here, so it stays an optional dependency), every rank validates its own shard
and, at each epoch end, the mode's combiner (`modes.combiner_for`) puts the ranks'
results together before any user callback sees the logs:

- `gather.py`: full capture's predictions, allgathered as raw bytes behind a JSON
  header and put back in the order `get_predict['shards']` names; also keeps the
  predictions out of Horovod's `MetricAverageCallback`.
- `sums.py`: the reducing mode's counts and graph sums, as one allreduce-sum of a
  fixed-size vector.
- `collectives.py`: the ops both go through, built once per graph and each run waiting
  at most `KERAS_GETPREDICT_GATHER_TIMEOUT` seconds, and the `handshake` that comes
  first: ranks that capture differently, or one whose capture failed, are known to
  every rank in that one collective, and all raise (or publish nothing) together
  instead of hanging.
"""
