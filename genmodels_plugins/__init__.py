"""The built-in genmodels plugins, installed as `genmodels_plugins` and found through entry points."""
