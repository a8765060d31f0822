"""A microarchitecture name from CPUID's vendor, family and model: a small table.

Not archspec: it names a CPU from its feature flags, which a hypervisor masks (a guest's
flags can look like an older generation), and it would be one more dependency for one
string. Family and model pass through KVM unchanged; the table covers the server and client
cores smclab has met or is likely to, and says "unknown" otherwise.
"""

from __future__ import annotations

#: Intel family 6: model -> name
INTEL_6 = {
    0x2A: "Sandy Bridge",
    0x2D: "Sandy Bridge-EP",
    0x3A: "Ivy Bridge",
    0x3E: "Ivy Bridge-EP",
    0x3C: "Haswell",
    0x3F: "Haswell-EP",
    0x45: "Haswell",
    0x46: "Haswell",
    0x3D: "Broadwell",
    0x47: "Broadwell",
    0x4F: "Broadwell-EP",
    0x56: "Broadwell-DE",
    0x4E: "Skylake",
    0x5E: "Skylake",
    0x55: "Skylake-SP / Cascade Lake",
    0x8E: "Kaby Lake / Coffee Lake",
    0x9E: "Kaby Lake / Coffee Lake",
    0xA5: "Comet Lake",
    0xA6: "Comet Lake",
    0x7D: "Ice Lake",
    0x7E: "Ice Lake",
    0x6A: "Ice Lake-SP",
    0x6C: "Ice Lake-D",
    0x8C: "Tiger Lake",
    0x8D: "Tiger Lake",
    0x97: "Alder Lake",
    0x9A: "Alder Lake",
    0xB7: "Raptor Lake",
    0xBA: "Raptor Lake",
    0xBF: "Raptor Lake",
    0xAA: "Meteor Lake",
    0x8F: "Sapphire Rapids",
    0xCF: "Emerald Rapids",
    0xAD: "Granite Rapids",
    0xAF: "Sierra Forest",
}
#: AMD: family -> ((first model, last model, name), ...)
AMD = {
    0x17: (
        (0x00, 0x0F, "Zen"),
        (0x10, 0x2F, "Zen+"),
        (0x30, 0xFF, "Zen 2"),
    ),
    0x19: (
        (0x00, 0x0F, "Zen 3"),
        (0x10, 0x1F, "Zen 4"),
        (0x20, 0x5F, "Zen 3"),
        (0x60, 0x7F, "Zen 4"),
        (0xA0, 0xAF, "Zen 4c"),
    ),
    0x1A: ((0x00, 0xFF, "Zen 5"),),
}


def microarchitecture(vendor: str, family: int, model: int) -> str:
    """The core's microarchitecture name, or "unknown"."""
    if vendor == "GenuineIntel" and family == 6:
        return INTEL_6.get(model, "unknown")
    if vendor == "AuthenticAMD":
        for first, last, name in AMD.get(family, ()):
            if first <= model <= last:
                return name
    return "unknown"
