"""The model's parts: random draws, distributions, likelihoods, the interfaces, ready-made components, GenerativeModel,
encoding and decoding.
"""
