"""Text engines: ``transformers`` (local folders, GPU), ``llamacpp`` (GGUF, CPU default), ``openai`` (remote)."""
