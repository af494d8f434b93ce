"""Developer tools: the demo models, the local stack, the demo and the benchmark."""
