"""SavedModel (TF Serving) and TFLite writers for the learned generators (the export issue)."""
