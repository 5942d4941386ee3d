"""Looking inside models: per-layer tables and MACs (:mod:`.introspection`), latency
(:mod:`.benchmark`), equality with TorchVision (:mod:`.parity`) and quantization error
(:mod:`.quantization_error`)."""
