"""Serving formats: SavedModel, LiteRT and ONNX (``artifacts``)."""
