"""Benefit and harm for one person: every option against no treatment (`sermsim compare`).

The layer between the interfaces and the trials: a comparison is a virtual trial of people
like one person, read as expected events per 1,000 with intervals, a weighted net-benefit
index (Gail 1999; Freedman 2011), suitability flags and the tissue signals behind the numbers.
"""

from sermsim.compare.comparison import Comparison, compare
from sermsim.compare.options import default_options, default_weights, parse_options

__all__ = ["Comparison", "compare", "default_options", "default_weights", "parse_options"]
