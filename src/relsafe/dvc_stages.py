"""Generate ``dvc.yaml`` from the Kedro pipelines and the catalog: one DVC stage per pipeline.

The stages are derived, never hand-copied, so they cannot drift from what the pipelines read
and write:

- ``cmd``: ``kedro run --pipelines <name>``;
- ``deps``: the pipeline's source folder, the ``relsafe`` packages it imports (transitively,
  plus the packages of custom dataset types it uses) and the file-backed datasets it reads
  that it does not write itself (its free inputs; ``conf/base/safety_policy.yml`` is one);
- ``params``: the top-level keys it reads (``params:<key>``), from the
  ``conf/base/parameters*.yml`` file that defines each key (no ``params.yaml`` copy);
- ``outs`` / ``metrics`` / ``plots``: the file-backed datasets it writes.

A catalog entry may choose its DVC kind with ``metadata: {dvc: {kind: metrics|plots|outs|
skip, cache: ..., persist: ..., x: ..., y: ...}}`` (on the entry or, for a wrapper such as
``MlflowArtifactDataset``, on its inner ``dataset``); without one, ``*metrics.json|yml`` is a
metric (``cache: false``), images and ``*_history.csv`` are plots, anything else an ``out``.

Run ``python -m relsafe.dvc_stages --write`` (``make dvc-yaml``) after changing a pipeline or
the catalog; ``--check`` exits 1 when ``dvc.yaml`` is stale or a pipeline hands an unpersisted
(memory) dataset to a later stage.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from relsafe.tools.dvc_lock import data_hash, data_inputs  # noqa: F401  (re-exported)

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

#: Stage order when the project does not define ``pipeline_registry.FULL_CHAIN``: the default
#: chain, then promotion. Other registered pipelines follow, sorted.
STAGE_ORDER = ("extract_tuples", "build_sets", "train_edit", "evaluate_edit", "register", "promote")
#: Registered pipelines that are deliberately not DVC stages, with the reason.
NOT_STAGES = {
    "rollback": "a manual registry operation (make rollback), not a data stage",
    "extract_tuples_dask": "the scale-out variant of extract_tuples, run by hand on large corpora; not part of the default run",
    "suggest_policy": "a review report run on demand (kedro run --pipelines suggest_policy); it feeds no stage",
}
#: Aggregate pipelines (sums of the others) are never stages.
AGGREGATE_PREFIX = "__"
#: Extra ``kedro run`` arguments per stage. A rejected challenger is an outcome recorded in
#: ``promotion_decision.json``, not a failed reproduction: without this, ``dvc repro`` (and every
#: ``dvc exp run``) would fail and never lock ``promote`` while the gates reject. ``make
#: promote`` and the Airflow DAG keep ``fail_on_reject`` from the config.
STAGE_ARGS = {"promote": "--params promote.fail_on_reject=false"}
#: The file the generator writes, relative to the project root.
DVC_YAML = "dvc.yaml"
HEADER = (
    "# Generated from the Kedro pipelines and conf/base/catalog.yml by\n"
    "# `python -m relsafe.dvc_stages --write` (make dvc-yaml). Do not edit by hand.\n"
)
_KINDS = ("outs", "metrics", "plots", "skip")
_PLOT_PROPS = ("x", "y", "template", "title", "x_label", "y_label")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".gif")
_REMOTE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


@dataclass(frozen=True)
class DatasetFile:
    """A catalog dataset backed by a file or folder inside the project."""

    name: str
    path: str
    kind: str = "outs"
    props: tuple[tuple[str, Any], ...] = ()


@dataclass
class Stage:
    """What one pipeline reads and writes, in DVC terms."""

    name: str
    code: list[str] = field(default_factory=list)
    deps: list[DatasetFile] = field(default_factory=list)
    params: dict[str, list[str]] = field(default_factory=dict)
    outs: list[DatasetFile] = field(default_factory=list)
    memory_inputs: list[str] = field(default_factory=list)
    memory_outputs: list[str] = field(default_factory=list)
    pipeline: str = ""  # the Kedro pipeline (default: the stage name)
    env: str | None = None  # a family's conf env (None: conf/base, the default family)
    nodes: list[str] = field(default_factory=list)  # run only these nodes (a family's part)

    def as_dvc(self) -> dict[str, Any]:
        """The stage as a ``dvc.yaml`` mapping."""
        pipeline = self.pipeline or self.name
        env = f"--env {self.env} " if self.env else ""
        cmd = f"kedro run {env}--pipelines {pipeline}"
        if self.nodes:
            cmd += " --nodes " + ",".join(self.nodes)
        if STAGE_ARGS.get(pipeline):
            cmd += " " + STAGE_ARGS[pipeline]
        out: dict[str, Any] = {"cmd": cmd}
        out["deps"] = [*self.code, *(d.path for d in self.deps)]
        if self.params:
            out["params"] = [{file: keys} for file, keys in self.params.items()]
        for kind in ("outs", "metrics", "plots"):
            items = [d for d in self.outs if d.kind == kind]
            if items:
                out[kind] = [{d.path: dict(d.props)} if d.props else d.path for d in items]
        return out


# --- project metadata -----------------------------------------------------------------------


def project_layout(project_root: Path) -> tuple[str, Path]:
    """``(package_name, source_dir)`` from ``[tool.kedro]`` in ``pyproject.toml``."""
    meta = tomllib.loads((project_root / "pyproject.toml").read_text())["tool"]["kedro"]
    return meta["package_name"], project_root / meta.get("source_dir", "src")


def load_pipelines(package_name: str) -> dict[str, Any]:
    """The registered pipelines (name -> ``kedro.pipeline.Pipeline``)."""
    from kedro.framework.project import configure_project, pipelines

    configure_project(package_name, preserve_logging=True)
    return dict(pipelines)


def chain_order() -> tuple[str, ...]:
    """``relsafe.pipeline_registry.FULL_CHAIN`` (the scheduled chain), else :data:`STAGE_ORDER`."""
    try:
        from relsafe.pipeline_registry import FULL_CHAIN
    except ImportError:
        return STAGE_ORDER
    return tuple(FULL_CHAIN)


def stage_names(pipelines: Mapping[str, Any]) -> list[str]:
    """Pipelines that become stages, in chain order (unknown extra ones sorted, at the end)."""
    names = [n for n in pipelines if not n.startswith(AGGREGATE_PREFIX) and n not in NOT_STAGES]
    known = [n for n in chain_order() if n in names]
    return known + sorted(set(names) - set(known))


# --- catalog --------------------------------------------------------------------------------


def load_catalog_resolver(project_root: Path, env: str = "base") -> Any:
    """A Kedro ``CatalogConfigResolver`` over ``conf/base`` only (dataset factories included).

    ``conf/local`` is deliberately ignored: ``dvc.yaml`` is shared and must not depend on one
    machine's overrides. Credentials are dropped: only paths matter here.
    """
    from kedro.config import OmegaConfigLoader
    from kedro.io.catalog_config_resolver import CatalogConfigResolver

    loader = OmegaConfigLoader(
        conf_source=str(project_root / "conf"), base_env="base", default_run_env=env
    )
    config = {
        k: {kk: vv for kk, vv in v.items() if kk != "credentials"}
        for k, v in loader["catalog"].items()
    }
    return CatalogConfigResolver(
        config=config, default_runtime_patterns={"{default}": {"type": "kedro.io.MemoryDataset"}}
    )


def _dataset_path(config: Mapping[str, Any]) -> str | None:
    for key in ("filepath", "path"):
        if isinstance(config.get(key), str):
            return config[key]
    inner = config.get("dataset")  # wrappers such as kedro_mlflow's MlflowArtifactDataset
    return _dataset_path(inner) if isinstance(inner, Mapping) else None


def _default_kind(path: str) -> str:
    p = Path(path)
    if p.suffix in (".json", ".yml", ".yaml") and (
        p.stem == "metrics" or p.stem.endswith("_metrics")
    ):
        return "metrics"
    if p.suffix in _IMAGE_SUFFIXES:
        return "plots"  # DVC shows and diffs images as plots
    if p.suffix in (".csv", ".tsv", ".json") and p.stem.endswith("_history"):
        return "plots"
    return "outs"


def _dvc_metadata(config: Mapping[str, Any]) -> dict[str, Any]:
    """``metadata.dvc`` of an entry, or of the dataset a wrapper (MlflowArtifactDataset) holds."""
    for cfg in (config, config.get("dataset")):
        if isinstance(cfg, Mapping):
            meta = (cfg.get("metadata") or {}).get("dvc")
            if meta:
                return {"kind": meta} if isinstance(meta, str) else dict(meta)
    return {}


def dataset_file(name: str, config: Mapping[str, Any], project_root: Path) -> DatasetFile | None:
    """The project-relative file behind a catalog entry, or ``None`` for memory/remote ones."""
    path = _dataset_path(config)
    if path is None or (_REMOTE.match(path) and not path.startswith("file://")):
        return None
    path = path.removeprefix("file://")
    if Path(path).is_absolute():
        try:
            path = str(Path(path).resolve().relative_to(project_root.resolve()))
        except ValueError as exc:
            raise ValueError(
                f"catalog dataset {name!r}: {path} is outside the project; DVC cannot track it"
            ) from exc
    meta = _dvc_metadata(config)
    kind = meta.get("kind", _default_kind(path))
    if kind not in _KINDS:
        raise ValueError(
            f"catalog dataset {name!r}: metadata.dvc.kind {kind!r} is not one of {_KINDS}"
        )
    props: dict[str, Any] = {}
    if kind == "metrics":
        props["cache"] = bool(meta.get("cache", False))
    elif "cache" in meta:
        props["cache"] = bool(meta["cache"])
    if meta.get("persist"):
        props["persist"] = True
    if kind == "plots":
        props.update({k: meta[k] for k in _PLOT_PROPS if k in meta})
    return DatasetFile(name=name, path=Path(path).as_posix(), kind=kind, props=tuple(props.items()))


# --- parameters -----------------------------------------------------------------------------


def parameter_files(project_root: Path, env: str = "base") -> dict[str, str]:
    """Top-level parameter key -> the ``conf/<env>`` file (project-relative) that defines it."""
    base = project_root / "conf" / env
    files = sorted(
        {
            *base.glob("parameters*.yml"),
            *base.glob("parameters*.yaml"),
            *base.glob("parameters*/**/*.yml"),
        }
    )
    owner: dict[str, str] = {}
    for file in files:
        data = yaml.safe_load(file.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{file}: expected a mapping of parameter keys")
        rel = file.relative_to(project_root).as_posix()
        for key in data:
            if key in owner:
                raise ValueError(f"parameter key {key!r} is defined in both {owner[key]} and {rel}")
            owner[str(key)] = rel
    return owner


def stage_params(
    inputs: Iterable[str], owner: Mapping[str, str], stage: str
) -> dict[str, list[str]]:
    """``{file: [keys]}`` for the ``params:`` / ``parameters`` inputs of a pipeline."""
    out: dict[str, list[str]] = {}
    for name in inputs:
        if name == "parameters":
            for key, file in owner.items():
                out.setdefault(file, []).append(key)
            continue
        if not name.startswith("params:"):
            continue
        key = name.removeprefix("params:")
        top = key.split(".")[0]
        if top not in owner:
            raise ValueError(
                f"stage {stage!r} reads {name!r} but no conf/base/parameters*.yml defines {top!r}"
            )
        out.setdefault(owner[top], []).append(key)
    return {file: sorted(set(keys)) for file, keys in sorted(out.items())}


# --- code dependencies ----------------------------------------------------------------------


def _module_imports(file: Path, module: str, package: str) -> set[str]:
    """Absolute ``package.*`` modules imported anywhere in ``file`` (relative imports resolved)."""
    tree = ast.parse(file.read_text(), filename=str(file))
    is_pkg = file.name == "__init__.py"
    parts = module.split(".") if is_pkg else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m == package or m.startswith(package + ".")}


def _unit_of(module: str, package: str, src: Path) -> Path | None:
    """The folder or file a ``package.*`` module is tracked as: pipelines/<name>, a subpackage or a module."""
    parts = module.split(".")[1:]
    if not parts:
        return src / package / "__init__.py"
    depth = 2 if parts[0] == "pipelines" and len(parts) > 1 else 1
    path = src / package / Path(*parts[:depth])
    if path.is_dir():
        return path
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None  # an imported attribute (from relsafe import x), resolved via the parent


def _unit_files(unit: Path) -> list[Path]:
    return sorted(unit.rglob("*.py")) if unit.is_dir() else [unit]


def _module_name(file: Path, src: Path) -> str:
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def code_dependencies(roots: Iterable[str], package: str, src: Path) -> list[Path]:
    """Folders/files of every ``package`` unit reachable by imports from the ``roots`` modules."""
    todo = [u for u in (_unit_of(m, package, src) for m in roots) if u is not None]
    seen: set[Path] = set()
    while todo:
        unit = todo.pop()
        if unit in seen:
            continue
        seen.add(unit)
        for file in _unit_files(unit):
            for mod in _module_imports(file, _module_name(file, src), package):
                dep = _unit_of(mod, package, src)
                if dep is not None and dep not in seen:
                    todo.append(dep)
    return sorted(seen)


def _types(config: Mapping[str, Any]) -> list[str]:
    """The ``type`` of an entry and of any dataset it wraps."""
    inner = config.get("dataset")
    return [config.get("type"), *(_types(inner) if isinstance(inner, Mapping) else [])]


def _type_module(type_name: str, package: str) -> str | None:
    """``relsafe.datasets.AdapterDataset`` -> ``relsafe.datasets``; other packages -> None."""
    if not isinstance(type_name, str) or not type_name.startswith(package + "."):
        return None
    return type_name.rsplit(".", 1)[0]


# --- planning -------------------------------------------------------------------------------


def _data_names(names: Iterable[str]) -> list[str]:
    return sorted(n for n in names if n != "parameters" and not n.startswith("params:"))


def family_envs(project_root: Path) -> dict[str, str]:
    """Conf env -> model family, for every env whose ``globals.yml`` names a family other than
    conf/base's (``conf/lm``, ``conf/vlm``): each gets its own stages (:func:`plan_stages`)."""
    conf = Path(project_root) / "conf"

    def family_of(env: str) -> str | None:
        path = conf / env / "globals.yml"
        data = yaml.safe_load(path.read_text()) if path.is_file() else None
        return (data or {}).get("family") if isinstance(data, dict) else None

    base = family_of("base")
    out = {}
    for env in sorted(p.name for p in conf.iterdir() if p.is_dir()):
        if env in ("base", "local"):
            continue
        fam = family_of(env)
        if fam and fam != base:
            out[env] = fam
    return out


def family_stage(name: str, env: str) -> str:
    """The name of pipeline ``name``'s stage for the family env ``env`` (``train_edit_lm``)."""
    return f"{name}_{env}"


def family_target(root: str | Path, env: str | None) -> str | None:
    """The last DVC stage of ``env``'s model family (``promote``, or ``promote_<env>`` for
    conf/lm, conf/vlm, ...), or None when dvc.yaml has no such stage."""
    root = Path(root)
    name = family_stage("promote", env) if env and env in family_envs(root) else "promote"
    dvc_yaml = root / DVC_YAML
    if not dvc_yaml.is_file():
        return None
    stages = (yaml.safe_load(dvc_yaml.read_text()) or {}).get("stages") or {}
    return name if name in stages else None


def _plan_stage(
    stage: Stage,
    pipe: Any,
    resolver: Any,
    owner: Mapping[str, str],
    project_root: Path,
    package: str,
    src: Path,
) -> Stage:
    free_inputs, all_outputs = _data_names(pipe.inputs()), _data_names(pipe.all_outputs())
    type_modules: set[str | None] = set()
    for ds, files, memory in (
        (free_inputs, stage.deps, stage.memory_inputs),
        (all_outputs, stage.outs, stage.memory_outputs),
    ):
        for d in ds:
            config = resolver.resolve_pattern(d)
            type_modules |= {_type_module(t, package) for t in _types(config)}
            file = dataset_file(d, config, project_root)
            if file is None:
                memory.append(d)
            elif file.kind != "skip" and file.path not in {f.path for f in files}:
                files.append(file)
    name = stage.pipeline or stage.name
    roots = {f"{package}.pipelines.{name}"} | {m for m in type_modules if m}
    roots |= {
        n.func.__module__
        for n in pipe.nodes
        if getattr(n.func, "__module__", "").startswith(package + ".")
    }
    stage.code = [
        p.relative_to(project_root).as_posix() for p in code_dependencies(roots, package, src)
    ]
    stage.params = stage_params(pipe.inputs(), owner, stage.name)
    return stage


def _family_params(base: Mapping[str, list[str]], env_owner: Mapping[str, str]) -> dict:
    """The base stage params plus, for each key a family env overrides, the env's file."""
    out = {f: list(keys) for f, keys in base.items()}
    for keys in base.values():
        for key in keys:
            top = key.split(".")[0]
            if top in env_owner:
                out.setdefault(env_owner[top], []).append(key)
    return {f: sorted(set(k)) for f, k in sorted(out.items())}


def plan_stages(project_root: Path, pipelines: Mapping[str, Any] | None = None) -> list[Stage]:
    """One :class:`Stage` per stage pipeline, derived from the pipelines and the catalog, then
    one per family env (``<pipeline>_<env>``, e.g. ``train_edit_lm``) for the pipelines whose
    outputs that env files elsewhere (``globals.yml`` ``family_dir``): only the nodes with such
    outputs, run with ``--env <env>``, so every family is a DVC stage and none overwrites
    another's outputs."""
    project_root = Path(project_root)
    package, src = project_layout(project_root)
    if pipelines is None:
        pipelines = load_pipelines(package)
    resolver = load_catalog_resolver(project_root)
    owner = parameter_files(project_root)
    stages = []
    for name in stage_names(pipelines):
        stages.append(
            _plan_stage(
                Stage(name=name), pipelines[name], resolver, owner, project_root, package, src
            )
        )
    for env in family_envs(project_root):
        env_resolver = load_catalog_resolver(project_root, env)
        env_owner = parameter_files(project_root, env)

        def path(res, ds: str) -> str | None:
            file = dataset_file(ds, res.resolve_pattern(ds), project_root)
            return file.path if file else None

        for name in stage_names(pipelines):
            pipe = pipelines[name]
            family_nodes, shared_nodes = [], []
            for n in pipe.nodes:
                outs = [(path(resolver, o), path(env_resolver, o)) for o in _data_names(n.outputs)]
                if any(b != e for b, e in outs):
                    family_nodes.append(n.name)
                elif any(b is not None for b, _ in outs):  # writes only files every family shares
                    shared_nodes.append(n.name)
            if not family_nodes:
                continue
            keep = [n.name for n in pipe.nodes if n.name not in shared_nodes]
            sub = pipe.only_nodes(*keep)
            partial = bool(shared_nodes)
            stage = Stage(
                name=family_stage(name, env),
                pipeline=name,
                env=env,
                nodes=sorted(keep) if partial else [],
            )
            stage = _plan_stage(stage, sub, env_resolver, owner, project_root, package, src)
            stage.params = _family_params(stage.params, env_owner)
            stages.append(stage)
    return stages


def persistence_problems(stages: list[Stage]) -> list[str]:
    """Memory datasets that cross a stage boundary (each stage is a separate process)."""
    problems = []
    produced = {ds: s.name for s in stages for ds in s.memory_outputs}
    for stage in stages:
        for ds in stage.memory_inputs:
            src = produced.get(ds)
            where = f"produced in memory by stage {src!r}" if src else "not produced by any stage"
            problems.append(
                f"stage {stage.name!r} reads {ds!r}, which is not a file in the catalog ({where}); add a catalog entry so it persists"
            )
    return problems


def overlap_problems(stages: list[Stage]) -> list[str]:
    """Outputs written by two stages, or nested in each other (DVC forbids both)."""
    owners: dict[str, str] = {}
    problems = []
    for stage in stages:
        for out in stage.outs:
            for path, other in owners.items():
                if (
                    out.path == path
                    or out.path.startswith(path + "/")
                    or path.startswith(out.path + "/")
                ):
                    problems.append(
                        f"{out.path} (stage {stage.name!r}) overlaps {path} (stage {other!r})"
                    )
            owners[out.path] = stage.name
    return problems


def render(stages: list[Stage]) -> str:
    """The text of ``dvc.yaml``."""
    doc = {"stages": {s.name: s.as_dvc() for s in stages}}
    return HEADER + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=100)


def generate(project_root: Path, pipelines: Mapping[str, Any] | None = None) -> str:
    """Plan, validate and render ``dvc.yaml``; raises ``ValueError`` listing every problem."""
    stages = plan_stages(project_root, pipelines)
    problems = persistence_problems(stages) + overlap_problems(stages)
    if problems:
        raise ValueError("cannot generate dvc.yaml:\n  " + "\n  ".join(problems))
    return render(stages)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m relsafe.dvc_stages", description=__doc__.splitlines()[0]
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write dvc.yaml")
    mode.add_argument(
        "--check", action="store_true", help="exit 1 if dvc.yaml differs from the generated one"
    )
    parser.add_argument(
        "--project", type=Path, default=Path.cwd(), help="project root (default: cwd)"
    )
    args = parser.parse_args(argv)
    try:
        text = generate(args.project)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    target = args.project / DVC_YAML
    if args.write:
        _write_atomic(target, text)
        print(f"wrote {target}")
    elif args.check:
        current = target.read_text() if target.is_file() else ""
        if current != text:
            print(
                f"{target} is stale: run `make dvc-yaml` (python -m relsafe.dvc_stages --write)",
                file=sys.stderr,
            )
            return 1
        print(f"{target} is up to date")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
