"""`genmodels serve`: a local web explorer of run directories.

`runs_index` finds and reads run folders without TensorFlow, `models` loads each run's model once (lazily, in a
bounded cache), `images` encodes PNGs, `pages` and `scripts` hold the HTML, CSS and JavaScript, and `app` puts the
routes together on Starlette (an optional extra: pip install "genmodels[serve]").
"""
