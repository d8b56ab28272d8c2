"""Methods: how a model (or no model) performs a task. A *system* is model + method."""
