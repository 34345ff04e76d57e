"""Analyses over the evidence store: detect, explain, compare, forensics, bots, posts.

Each analysis is its own module or package beside this file. None writes to the store
itself (DESIGN rule 2: detections are derived and can always be recomputed); the one
analysis that can add evidence, explain's live look-up of lost followers, does it through
the resolver its caller passes (``purgewatch.collect.resolve.fate_resolver``), so no
analysis reaches the network or the store's writer.
"""
