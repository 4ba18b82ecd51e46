"""The box's dial plan: country plans as data, the classifier (DESIGN §4.6 order) and the digit collector."""

from roamline.firmware.dialplan.collector import Collecting, DigitCollector
from roamline.firmware.dialplan.plan import Classified, Classifier, CountryPlan, Kind, load_plan

__all__ = ["Classified", "Classifier", "Collecting", "CountryPlan", "DigitCollector", "Kind", "load_plan"]
