"""Interfaces: the CLI and renderers. They hold no science: each command calls one public
function of a lower layer and renders its result."""
