"""Compose conf/ (with Hydra overrides) into params.yaml, as `dvc exp run` does, validated first.

    python -m kombat.compose                      # conf/ defaults -> params.yaml
    python -m kombat.compose data=tiny head.units=256
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.errors import HydraException
from omegaconf import OmegaConf

from kombat import schema
from kombat.errors import KombatError
from kombat.storage import atomic_write_text, project_root


CHECKOUT_CONF = Path(__file__).resolve().parents[2] / "conf"  # conf/ of the checkout kombat is installed from


def compose(overrides: list[str], conf_dir: Path | None = None) -> dict:
    """The composed config as a plain dict (not yet validated)."""
    if conf_dir is None:
        conf_dir = project_root() / "conf" if (project_root() / "conf").is_dir() else CHECKOUT_CONF
    conf_dir = conf_dir.resolve()
    try:
        with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=overrides)
    except HydraException as exc:
        raise KombatError(f"conf/ with overrides {overrides}: {str(exc).splitlines()[0]}") from None
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def default_config(overrides: list[str] | None = None) -> schema.KombatConfig:
    """conf/'s defaults (with overrides), validated: the one place a default lives."""
    return schema.validate(compose(list(overrides or [])), source=f"conf/ + {overrides or []}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kombat.compose", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. data=tiny head.units=256")
    parser.add_argument("--out", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    try:
        composed = compose(args.overrides)
        schema.validate(composed, source=f"conf/ + {args.overrides}")
    except KombatError as exc:
        print(f"kombat compose: error: {exc}", file=sys.stderr)
        return 2
    atomic_write_text(args.out, yaml.safe_dump(composed, sort_keys=False))
    print(f"wrote {args.out} from conf/ {' '.join(args.overrides)}".rstrip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
