"""Evaluation: what measures FaceProp but is not the product.

Synthetic clips with exact labels (``synthetic``), the propagation benchmark (``bench``), the
simulated annotator (``simulate``) and the report charts (``plots``). It imports ``core`` and
``trainer``; nothing in the product imports it, except the GUI's demo, which borrows the clip
maker.
"""
