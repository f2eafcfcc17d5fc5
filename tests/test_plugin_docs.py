"""The plugin guide's example is real: the code in docs/plugins.md runs through the fixture."""

import re
from pathlib import Path

DOCS = Path(__file__).parent.parent / "docs"


def test_guide_shows_the_example_file_verbatim():
    guide = (DOCS / "plugins.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", guide, re.S)
    assert (DOCS / "examples" / "garage.py").read_text() in blocks


def test_example_plugin_works_through_the_shipped_fixture(troupe_federation):
    fed = troupe_federation(hosts=2, plugins=["garage"], plugin_paths=[DOCS / "examples"],
                            config={"garage": {"gpio": 17, "host": "pi-2"}})
    ts = fed.say("open garage")
    answer = fed.wait_for_answer(ts)
    assert fed.host_of(answer) == "pi-2"
    assert answer["text"] == "Garage door opening."
    ts = fed.say("help close garage")
    assert "Close the garage door" in fed.wait_for_answer(ts)["text"]
