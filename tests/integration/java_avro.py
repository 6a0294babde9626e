"""The Apache Avro Java library as a test tool: jars from Maven Central, our AvroInterop.java compiled once.

Apache Avro Java is the reference implementation of the spec Attain's framing
follows, written by people who are not us: a message it cannot read is a bug
in Attain, whatever fastavro says.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from attain.embedded import maven
from tests.polling import budget

AVRO_VERSION = "1.12.1"
KAFKA_CLIENTS_VERSION = "4.1.2"
ARTIFACTS = [
    ("org.apache.avro", "avro", AVRO_VERSION),
    ("org.apache.kafka", "kafka-clients", KAFKA_CLIENTS_VERSION),
    ("org.slf4j", "slf4j-nop", "2.0.17"),
]
SOURCE = Path(__file__).parent / "java" / "AvroInterop.java"
PAYROLL_EXAMPLE = Path(__file__).parents[2] / "examples" / "payroll" / "PayoutsConsumer.java"
# AvroInterop reads with the payroll example's decoder, so the example is compiled (and checked) with the tools.
SOURCES = [SOURCE, SOURCE.with_name("ConfluentInterop.java"), SOURCE.with_name("Relay.java"), PAYROLL_EXAMPLE]


def classpath() -> str:
    """The jars plus the compiled interop tools and payroll example (recompiled when a source changes)."""
    folder = maven.cache_dir(f"avro-java-{AVRO_VERSION}")
    jars = os.pathsep.join(str(jar) for jar in maven.ensure_classpath(folder, ARTIFACTS))
    classes = folder / "classes" / hashlib.sha256(b"".join(s.read_bytes() for s in SOURCES)).hexdigest()[:16]
    if not (classes / "ConfluentInterop.class").is_file():
        javac = shutil.which("javac")
        if javac is None:
            raise RuntimeError("a JDK ('javac') is needed to compile the Avro Java interop tool")
        with maven.exclusive_lock(folder / ".compile.lock"):
            if not (classes / "ConfluentInterop.class").is_file():
                classes.mkdir(parents=True, exist_ok=True)
                subprocess.run([javac, "-d", str(classes), "-cp", jars, *map(str, SOURCES)], check=True,
                               capture_output=True, text=True, timeout=budget(300))
    return os.pathsep.join([str(classes), jars])


def run_java(main_class: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``main_class`` (an interop tool or the payroll example) on :func:`classpath`; its output and exit."""
    java = shutil.which("java")
    if java is None:
        raise RuntimeError(f"a Java runtime is needed to run {main_class}")
    return subprocess.run([java, "-cp", classpath(), main_class, *args],
                          capture_output=True, text=True, timeout=budget(180), check=False)


def _run(tool: str, *args: str) -> list[str]:
    result = run_java(tool, *args)
    if result.returncode != 0:
        raise AssertionError(f"Apache Avro Java ({tool}) failed (exit {result.returncode}):\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout.splitlines()


def confluent_round_trip(bootstrap: str, registry_url: str, in_topic: str, out_topic: str, count: int,
                         user_info: str = "") -> list[str]:
    """Run ConfluentInterop: Java reads ``count`` Confluent-framed messages of ``in_topic``, resolving each schema
    id at the registry (Basic auth with ``user_info``), and writes the records single-object framed to
    ``out_topic``. Returns Java's lines."""
    return _run("ConfluentInterop", bootstrap, registry_url, in_topic, out_topic, str(count), user_info)


def round_trip(bootstrap: str, schema_dir: Path, in_topic: str, out_topic: str, count: int) -> list[str]:
    """Run AvroInterop: Java reads ``count`` messages of ``in_topic`` and writes them, Java-framed, to ``out_topic``.

    Returns Java's lines (one per record, as GenericData renders it); raises if Java could not read one.
    """
    return _run("AvroInterop", bootstrap, str(schema_dir), in_topic, out_topic, str(count))
