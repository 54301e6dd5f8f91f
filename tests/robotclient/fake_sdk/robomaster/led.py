"""Fake `robomaster.led`: the SDK's component and effect constants."""

COMP_ALL = "all"
COMP_TOP_ALL = "top_all"
COMP_BOTTOM_ALL = "bottom_all"

# The real SDK tests effects with `is`; building these at run time makes them distinct objects
# from any equal string a caller decodes from JSON, so the fake can tell which one it was given.
EFFECT_ON = "".join(["o", "n"])
EFFECT_OFF = "".join(["o", "f", "f"])
EFFECT_PULSE = "".join(["pul", "se"])
EFFECT_FLASH = "".join(["fla", "sh"])
EFFECT_BREATH = "".join(["bre", "ath"])
EFFECT_SCROLLING = "".join(["scroll", "ing"])
SDK_EFFECTS = (EFFECT_ON, EFFECT_OFF, EFFECT_PULSE, EFFECT_FLASH, EFFECT_BREATH, EFFECT_SCROLLING)
