"""Bridges to other libraries, each imported explicitly (``chainrule.interop.torch``);
importing this package imports none of them."""
