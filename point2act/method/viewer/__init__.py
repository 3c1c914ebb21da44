"""point2act in nerfstudio's viewer: the panel (controls), the markers it draws, render interrupts."""

from point2act.method.viewer.interrupts import caused_by_interrupt, surface_render_interrupts
from point2act.method.viewer.markers import composite_relevancy
from point2act.method.viewer.panel import TRAINED_CHANNEL, Point2ActViewerPanel

__all__ = [
    "TRAINED_CHANNEL",
    "Point2ActViewerPanel",
    "caused_by_interrupt",
    "composite_relevancy",
    "surface_render_interrupts",
]
