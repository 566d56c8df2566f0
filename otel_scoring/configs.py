"""Score configs: named rules a score must follow, built in code or loaded from a file.

The rules are those of Langfuse score configs: the score's name must equal the config's name, its
data type (when given) must match, a numeric value must lie within ``min_value``/``max_value``, a
categorical value must be one of the categories (each label maps to a number), and a boolean value
must be 0 or 1.
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, Mapping, Optional, Union

from otel_scoring._model import DataType

__all__ = ["ScoreConfig", "ScoreConfigRegistry"]


@dataclass(frozen=True)
class ScoreConfig:
    """A score config. ``categories`` maps each category label to its numeric value."""

    id: str
    name: str
    data_type: DataType
    min_value: Optional[float] = None
    max_value: Optional[float] = None
    categories: Mapping[str, float] = field(default_factory=dict)
    description: Optional[str] = None

    def __post_init__(self) -> None:
        # A config is written by a programmer: mistakes raise here, at construction.
        if not isinstance(self.id, str) or not self.id:
            raise ValueError("ScoreConfig.id must be a non-empty string")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"ScoreConfig {self.id!r}: name must be a non-empty string")
        object.__setattr__(self, "data_type", DataType(self.data_type))
        for bound in (self.min_value, self.max_value):
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float)) or math.isnan(bound)):
                raise ValueError(f"ScoreConfig {self.id!r}: min_value/max_value must be numbers")
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise ValueError(f"ScoreConfig {self.id!r}: min_value {self.min_value} > max_value {self.max_value}")
        categories = dict(self.categories or {})
        if self.data_type is DataType.CATEGORICAL and not categories:
            raise ValueError(f"ScoreConfig {self.id!r}: a CATEGORICAL config needs categories")
        if self.data_type is not DataType.CATEGORICAL and categories:
            raise ValueError(f"ScoreConfig {self.id!r}: only a CATEGORICAL config has categories")
        for label, number in categories.items():
            if not isinstance(label, str) or isinstance(number, bool) or not isinstance(number, (int, float)):
                raise ValueError(f"ScoreConfig {self.id!r}: categories map string labels to numbers")
        object.__setattr__(self, "categories", {label: float(number) for label, number in categories.items()})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ScoreConfig":
        """Build from a mapping in Langfuse's config shape or ours.

        Langfuse writes ``dataType``, ``minValue``, ``maxValue`` and categories as a list of
        ``{"label": ..., "value": ...}``; a mapping of label to value is accepted as well.
        """
        categories = data.get("categories") or {}
        if isinstance(categories, list):
            categories = {item["label"]: item["value"] for item in categories}
        return cls(
            id=str(data["id"]),
            name=data["name"],
            data_type=data.get("data_type", data.get("dataType")),
            min_value=data.get("min_value", data.get("minValue")),
            max_value=data.get("max_value", data.get("maxValue")),
            categories=categories,
            description=data.get("description"),
        )


class ScoreConfigRegistry:
    """Score configs by id. Thread-safe; shared by the processors that were given it."""

    def __init__(self, configs: Iterable[ScoreConfig] = ()) -> None:
        self._lock = threading.Lock()
        self._configs: Dict[str, ScoreConfig] = {}
        for config in configs:
            self.add(config)

    def add(self, config: ScoreConfig) -> ScoreConfig:
        with self._lock:
            self._configs[config.id] = config
        return config

    def get(self, config_id: str) -> Optional[ScoreConfig]:
        return self._configs.get(config_id)

    def __iter__(self) -> Iterator[ScoreConfig]:
        return iter(list(self._configs.values()))

    def __len__(self) -> int:
        return len(self._configs)

    @classmethod
    def from_file(cls, path: Union[str, "os.PathLike[str]"]) -> "ScoreConfigRegistry":
        """Load configs from a JSON or YAML file: a list of configs, or ``{"configs": [...]}``.

        The format is in ``docs/score-configs.md``. JSON needs nothing more; YAML (``.yaml``/``.yml``)
        needs PyYAML (``pip install 'otel-scoring[yaml]'``) and raises ImportError saying so.
        """
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() in {".yaml", ".yml"}:
            try:
                import yaml
            except ImportError as exc:
                raise ImportError("loading score configs from YAML needs PyYAML: pip install 'otel-scoring[yaml]'") from exc
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
        if isinstance(data, Mapping):
            data = data.get("configs", [])
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a list of score configs or {{'configs': [...]}}")
        return cls(ScoreConfig.from_dict(item) for item in data)
