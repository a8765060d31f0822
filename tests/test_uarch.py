"""Host metadata: the microarchitecture table and the facts a host is stored with."""

import pytest

from smclab.model.uarch import microarchitecture
from smclab.run import machine


@pytest.mark.parametrize(
    "vendor,family,model,name",
    [
        ("GenuineIntel", 6, 0xCF, "Emerald Rapids"),  # this team's Intel guest
        ("GenuineIntel", 6, 0x9E, "Kaby Lake / Coffee Lake"),  # the seed question's CPU
        ("AuthenticAMD", 0x19, 0x01, "Zen 3"),
        ("AuthenticAMD", 0x19, 0x11, "Zen 4"),
        ("AuthenticAMD", 0x1A, 0x02, "Zen 5"),
        ("AuthenticAMD", 0x17, 0x31, "Zen 2"),
        ("GenuineIntel", 6, 0x01, "unknown"),
        ("GenuineIntel", 0x13, 0x01, "unknown"),
        ("HygonGenuine", 0x18, 0x00, "unknown"),
    ],
)
def test_microarchitecture_names(vendor, family, model, name):
    assert microarchitecture(vendor, family, model) == name


def test_host_facts_carry_cmdline_mitigations_uarch_and_governor():
    facts = machine.host_facts(1e9)
    cid = machine.cpu_id()
    assert facts["uarch"] == microarchitecture(cid.vendor, cid.family, cid.model)
    with open("/proc/cmdline") as f:
        assert f.read().startswith(facts["cmdline"])
    assert " -- " not in facts["cmdline"]  # init's arguments are not the kernel's
    vulns = machine.SYS_CPU / "vulnerabilities"
    names = sorted(p.name for p in vulns.glob("*")) if vulns.is_dir() else []
    assert sorted(facts["vulnerabilities"]) == names
    assert facts["governor"] is None or facts["governor"].isidentifier()
    assert "cmdline" not in machine.fingerprint(facts)  # a known host stays the same host
