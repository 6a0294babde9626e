"""Apicurio Registry, a real schema registry with a Confluent-compatible API, built and started by the test tooling.

Apicurio publishes ``io.apicurio:apicurio-registry-app`` on Maven Central as a
Quarkus application module (classes, no runnable jar). A throwaway Maven project
that depends on it is built once with the quarkus-maven-plugin into a runnable
jar under ``<repo>/.cache``, then started on a free port with an empty in-memory
H2 database. Its Confluent-compatible API is at ``/apis/ccompat/v7``.

Why 2.4.2.Final: of the versions the Maven Central served to this project
carries, 3.3.3, 3.0.9 and 2.6.13.Final lack modules of Apicurio itself
(``apicurio-registry-schema-util-provider``, the 3.0.9 parent POM, ...).
2.4.2.Final resolves except for two artifacts that are not on Maven Central and
that the Avro path does not use:

- ``org.everit.json.schema`` (JSON Schema validation, published on JitPack): excluded;
  JSON Schema artifacts are not used here.
- ``apicurio-common-app-components-config-index-deployment`` (a Quarkus build step that
  lists the dynamically editable settings): its runtime module is excluded and the one
  bean it produced is supplied empty by ``ConfigIndexShim`` below (no dynamic settings).

It runs on the default Java 17.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from attain.embedded import maven
from attain.embedded.ports import free_port
from tests.integration.http_server import http_server

VERSION = "2.4.2.Final"
QUARKUS_VERSION = "2.16.4.Final"  # the quarkus.version of io.apicurio:apicurio-registry:2.4.2.Final
CCOMPAT = "/apis/ccompat/v7"
RUNNER = "apicurio-runner-1-runner.jar"

POM = f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.attain</groupId>
  <artifactId>apicurio-runner</artifactId>
  <version>1</version>
  <packaging>jar</packaging>
  <properties>
    <maven.compiler.source>11</maven.compiler.source>
    <maven.compiler.target>11</maven.compiler.target>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <dependencyManagement>
    <dependencies>
      <dependency><groupId>io.quarkus</groupId><artifactId>quarkus-bom</artifactId>
        <version>{QUARKUS_VERSION}</version><type>pom</type><scope>import</scope></dependency>
      <dependency><groupId>io.apicurio</groupId><artifactId>apicurio-registry</artifactId>
        <version>{VERSION}</version><type>pom</type><scope>import</scope></dependency>
    </dependencies>
  </dependencyManagement>
  <dependencies>
    <dependency>
      <groupId>io.apicurio</groupId><artifactId>apicurio-registry-app</artifactId><version>{VERSION}</version>
      <exclusions>
        <exclusion><groupId>com.github.everit-org.json-schema</groupId><artifactId>org.everit.json.schema</artifactId></exclusion>
        <exclusion><groupId>io.apicurio</groupId><artifactId>apicurio-common-app-components-config-index</artifactId></exclusion>
      </exclusions>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>io.quarkus</groupId><artifactId>quarkus-maven-plugin</artifactId><version>{QUARKUS_VERSION}</version>
        <extensions>true</extensions>
        <executions><execution><goals><goal>build</goal></goals></execution></executions>
      </plugin>
    </plugins>
  </build>
</project>
"""

SHIM = """package local.attain;

import java.util.List;
import javax.enterprise.context.ApplicationScoped;
import javax.enterprise.inject.Produces;

import io.apicurio.common.apps.config.DynamicConfigPropertyList;

// Stands in for the build step of apicurio-common-app-components-config-index-deployment (not on
// Maven Central here): the registry runs with no dynamically editable settings.
@ApplicationScoped
public class ConfigIndexShim {
  @Produces
  @ApplicationScoped
  DynamicConfigPropertyList dynamicConfigProperties() {
    return new DynamicConfigPropertyList(List.of());
  }
}
"""

# Apicurio's parent POM names other repositories (e.g. repo.eclipse.org), unreachable here:
# every artifact used is looked up on Maven Central only.
SETTINGS = """<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <mirrors><mirror><id>central-only</id><mirrorOf>*</mirrorOf><url>https://repo.maven.apache.org/maven2</url></mirror></mirrors>
</settings>
"""

# The published app jar carries no application.properties: index its classes for CDI.
APPLICATION_PROPERTIES = """quarkus.index-dependency.registry-app.group-id=io.apicurio
quarkus.index-dependency.registry-app.artifact-id=apicurio-registry-app
"""


def build() -> Path:
    """The runnable jar, built once (a few minutes, mostly downloads) and cached."""
    folder = maven.cache_dir(f"apicurio-{VERSION}") / "build"
    runner = folder / "target" / RUNNER
    if runner.is_file():
        return runner
    with maven.exclusive_lock(folder.parent / ".lock"):
        if not runner.is_file():
            mvn = shutil.which("mvn")
            if mvn is None:
                raise RuntimeError("Apache Maven ('mvn') is needed to build Apicurio Registry")
            shim = folder / "src" / "main" / "java" / "local" / "attain" / "ConfigIndexShim.java"
            resources = folder / "src" / "main" / "resources"
            shim.parent.mkdir(parents=True, exist_ok=True)
            resources.mkdir(parents=True, exist_ok=True)
            (folder / "pom.xml").write_text(POM)
            (folder / "settings.xml").write_text(SETTINGS)
            shim.write_text(SHIM)
            (resources / "application.properties").write_text(APPLICATION_PROPERTIES)
            result = subprocess.run([mvn, "-B", "-q", "-s", "settings.xml", "package", "-DskipTests"], cwd=folder,
                                    capture_output=True, text=True, timeout=1800, check=False)
            if result.returncode != 0 or not runner.is_file():
                raise RuntimeError(f"building Apicurio Registry {VERSION} failed (exit {result.returncode}):\n"
                                   f"{(result.stdout + result.stderr)[-4000:]}")
    return runner


@contextmanager
def apicurio(log_path: Path, timeout: float = 120) -> Iterator[str]:
    """A running, empty Apicurio Registry; yields the URL of its Confluent-compatible API."""
    runner = build()
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("a Java runtime is needed to run Apicurio Registry")
    port = free_port()
    url = f"http://127.0.0.1:{port}{CCOMPAT}"
    with http_server([java, f"-Dquarkus.http.port={port}", "-Dquarkus.http.host=127.0.0.1", "-jar", str(runner)],
                     log_path, urllib.request.Request(f"{url}/subjects"), name="Apicurio Registry", timeout=timeout,
                     interval=0.5, grace=20, cwd=runner.parent):
        yield url
