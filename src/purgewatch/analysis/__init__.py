"""Pure analyses over the evidence store (detect, explain, compare, forensics).

Each analysis is its own module or package beside this file; nothing here writes to the
store (DESIGN rule 2: detections are derived and can always be recomputed).
"""
