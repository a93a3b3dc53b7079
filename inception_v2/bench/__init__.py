"""The race against tf_slim's graph on this machine (``race``): speed, input pipeline,
agreement, in worker processes (``worker``)."""
