"""Jobs: the model, the manager (the only status writer), progress, workers."""
