"""Models: a chain of layers (Sequential) and any acyclic graph of them (Graph)."""

from .graph import Graph, Input, Node
from .sequential import Sequential
from .summary import summary, to_dot

__all__ = ["Graph", "Input", "Node", "Sequential", "summary", "to_dot"]
