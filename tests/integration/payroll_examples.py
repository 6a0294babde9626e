"""Run the payroll consumer examples (examples/payroll/) as a payroll team would: Java and Python processes.

The Java example is compiled with the Avro interop tools of tests/integration/java_avro.py (their jars
from Maven Central, cached; recompiled when a source changes).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from attain.platform.schemas import schemas_dir
from tests.integration import java_avro
from tests.polling import budget

EXAMPLES = Path(__file__).parents[2] / "examples" / "payroll"
PYTHON_SOURCE = EXAMPLES / "payouts_consumer.py"


def run_java(bootstrap: str, scope: str, period: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return java_avro.run_java("PayoutsConsumer", bootstrap, str(schemas_dir()), scope, period, str(timeout))


def run_python(bootstrap: str, scope: str, period: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(PYTHON_SOURCE), bootstrap, str(schemas_dir()), scope, period,
                           str(timeout)], capture_output=True, text=True, timeout=budget(180), check=False)
