"""The Streamlit UI: pages that read widgets, call cached functions and render.

No maths here: predictions, layer tables and analyses come from ``alexnet``
and ``analysis``; this package only draws them.
"""
