"""Run the payroll consumer examples (examples/payroll/) as a payroll team would: Java and Python processes.

The Java example is compiled with the Apache Avro and kafka-clients jars of
tests/integration/java_avro.py (Maven Central, cached), recompiled when its source changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from attain.embedded import maven
from attain.platform.avro import schemas_dir
from tests.integration.java_avro import ARTIFACTS, AVRO_VERSION
from tests.polling import budget

EXAMPLES = Path(__file__).parents[2] / "examples" / "payroll"
JAVA_SOURCE = EXAMPLES / "PayoutsConsumer.java"
PYTHON_SOURCE = EXAMPLES / "payouts_consumer.py"


def java_classpath() -> str:
    folder = maven.cache_dir(f"avro-java-{AVRO_VERSION}")
    jars = os.pathsep.join(str(jar) for jar in maven.ensure_classpath(folder, ARTIFACTS))
    classes = folder / "payroll-classes" / hashlib.sha256(JAVA_SOURCE.read_bytes()).hexdigest()[:16]
    if not (classes / "PayoutsConsumer.class").is_file():
        javac = shutil.which("javac")
        if javac is None:
            raise RuntimeError("a JDK ('javac') is needed to compile examples/payroll/PayoutsConsumer.java")
        with maven.exclusive_lock(folder / ".compile.lock"):
            if not (classes / "PayoutsConsumer.class").is_file():
                classes.mkdir(parents=True, exist_ok=True)
                subprocess.run([javac, "-d", str(classes), "-cp", jars, str(JAVA_SOURCE)], check=True,
                               capture_output=True, text=True, timeout=budget(300))
    return os.pathsep.join([str(classes), jars])


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=budget(180), check=False)


def run_java(bootstrap: str, scope: str, period: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("a Java runtime is needed to run examples/payroll/PayoutsConsumer.java")
    return _run([java, "-cp", java_classpath(), "PayoutsConsumer", bootstrap, str(schemas_dir()), scope, period,
                 str(timeout)])


def run_python(bootstrap: str, scope: str, period: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, str(PYTHON_SOURCE), bootstrap, str(schemas_dir()), scope, period, str(timeout)])
