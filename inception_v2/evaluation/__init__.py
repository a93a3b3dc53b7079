"""slim's eval protocol and its metrics: top-1/top-5, ReaL, NLL and calibration (``evaluate``,
``reliability``)."""
