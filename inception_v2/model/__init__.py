"""The network, built and never loaded: slim's architecture in numbers (``architecture``),
the Keras builder with slim's layer names (``network``), its initialisers and its FLOPs."""
