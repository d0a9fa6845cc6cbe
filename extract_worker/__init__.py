"""The extraction worker: the program Azure Batch tasks (and the local pool) run."""
