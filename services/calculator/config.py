"""Calculator settings (``ATTAIN_CALCULATOR_*``)."""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class CalculatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATTAIN_CALCULATOR_")

    app_id: str = "attain-calculator"
    host: str = "127.0.0.1"
    port: int = 8082
    plans_file: Path = Path("examples/demo/plans.yaml")
    data_dir: Path = Path(".attain/calculator")
    max_batch: int = 2000  # records of one topic handed to a stage at once (one fetch at most)
