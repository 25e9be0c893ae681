"""The ground floor: errors, atomic files, pixel kinds, configs, the TensorFlow import, pictures, the version.

Nothing here imports any other part of genmodels.
"""
