"""The package as users get it: a wheel installed outside the source tree finds every topic's schema."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOPICS = sorted(path.name for path in (REPO / "schemas").iterdir() if any(path.glob("v*.avsc")))

CHECK = """
import json, sys
from attain.platform import avro, schemas
contracts = {topic: [avro.schema_fingerprint(v).hex() for v in avro.contract(topic).versions] for topic in sys.argv[1:]}
from attain.notify import messages
print(json.dumps({"module": avro.__file__, "schemas": str(schemas.schemas_dir()), "contracts": contracts,
                  "plans": (schemas.schemas_dir() / "plans" / "v1.schema.json").is_file(),
                  "sentences": [messages.__file__, messages.text("approved", "fr")]}))
"""


def test_an_installed_wheel_loads_every_topic_schema_from_its_own_copy(tmp_path):
    wheels, target, source = tmp_path / "wheels", tmp_path / "venv", tmp_path / "source"
    # A clean copy: setuptools builds in the tree, and a stale build/ there could hand the wheel old files.
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".cache", ".attain", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(source)], check=True, cwd=tmp_path, timeout=180)
    (wheel,) = wheels.glob("attain-*.whl")
    venv.create(target, with_pip=False)
    python = target / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True, cwd=tmp_path, timeout=180)
    env = {key: value for key, value in os.environ.items() if key not in ("ATTAIN_SCHEMAS_DIR", "PYTHONPATH")}
    env["PYTHONPATH"] = os.pathsep.join(site.getsitepackages())  # the dependencies, not the source tree
    result = subprocess.run([str(python), "-c", CHECK, *TOPICS], check=True, cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    found = json.loads(result.stdout)
    assert Path(found["module"]).is_relative_to(target) and Path(found["schemas"]).is_relative_to(target), found
    assert found["plans"]
    notify_module, french = found["sentences"]  # the notification catalogues ship in the wheel
    assert Path(notify_module).is_relative_to(target) and french.startswith("Votre paiement"), found
    from attain.platform import avro  # the source tree's copy: the installed one must hold the same versions

    assert found["contracts"] == {topic: [avro.schema_fingerprint(v).hex() for v in avro.contract(topic).versions]
                                  for topic in TOPICS}
