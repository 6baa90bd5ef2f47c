"""The build driver: a model file through the importers, passes and codegen into an output directory,
with its report and model image."""
