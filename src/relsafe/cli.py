"""The operator CLI: ``relsafe <command>`` and, the Kedro way, ``kedro relsafe <command>``.

Commands (each with ``--help`` and ``--json``)::

    relsafe policy check [FILE]            validate the safety policy, list classes and rules
    relsafe policy explain TEXT...         tuples, matching rules, and why a caption does not match
    relsafe probe MODEL_URI TEXT...        base vs edited outputs (LM answers + judge, or retrieval)
    relsafe compare [A] [B]                two versions: metrics, gates, lineage, HTML report
    relsafe status                         registered models, aliases, decisions, dvc status
    relsafe run [kedro run options]        the pipelines (also plain ``relsafe``, as before)

Exit codes: 0 ok; 1 a failed check (invalid policy, a failing gate) or a registry failure;
2 bad usage or input (unknown option, missing file, unknown model, alias or version).

Kedro loads this module as the project's CLI plugin (``cli``, a click group) and takes
``run`` from it for ``python -m relsafe``. The work is done by the layers
(:mod:`relsafe.policy.explain`, :mod:`relsafe.registry.probe`, :mod:`relsafe.registry.compare`,
:mod:`relsafe.registry.status`); configuration is the project's (``--env`` like ``kedro run``),
with the same validation and registry set-up as a pipeline run.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import click
from kedro.framework.cli.project import run

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class CommandFailed(click.ClickException):
    """A check or the registry failed (exit 1)."""

    exit_code = EXIT_FAIL


class BadInput(click.ClickException):
    """Bad input: a missing file, an unknown model, alias or version (exit 2)."""

    exit_code = EXIT_USAGE


def _bad_input_types() -> tuple[type[BaseException], ...]:
    import yaml

    from relsafe.config_loader import UnknownEnvironment
    from relsafe.config_schema import ConfigError
    from relsafe.registry.compare import VersionNotFound
    from relsafe.registry.errors import AliasNotFound, ModelNotFound
    from relsafe.registry.probe import GalleryError

    return (
        FileNotFoundError,
        IsADirectoryError,
        yaml.YAMLError,
        UnknownEnvironment,
        ConfigError,
        ModelNotFound,
        AliasNotFound,
        VersionNotFound,
        GalleryError,
    )


def _emit_error(as_json: bool, exc: BaseException, code: int) -> None:
    name = type(exc).__name__
    message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
    if as_json:
        click.echo(json.dumps({"ok": False, "error": name, "message": message}, indent=2))
    else:
        click.echo(f"error ({name}): {message}", err=True)
    sys.exit(code)


def handles_errors(fn: Callable) -> Callable:
    """Turn the layers' named errors into exit codes (2 bad input, 1 failure), as text on
    stderr or, with ``--json``, as ``{"ok": false, "error": ..., "message": ...}``."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        as_json = bool(kwargs.get("as_json"))
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except click.ClickException as exc:
            _emit_error(as_json, exc, exc.exit_code)
        except _bad_input_types() as exc:
            _emit_error(as_json, exc, EXIT_USAGE)
        except Exception as exc:  # the registry down, a failed load: a failure, named
            from mlflow.exceptions import MlflowException

            from relsafe.registry.errors import RegistryError

            if isinstance(exc, RegistryError | MlflowException | OSError | ValueError | KeyError):
                _emit_error(as_json, exc, EXIT_FAIL)
            raise

    return wrapper


def emit(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        render(data)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")


class Project:
    """The Kedro project around the working directory, loaded lazily: config (``--env``) for
    params and catalog paths, a Kedro context (hooks: params validation, registry
    reachability, kedro-mlflow's tracking/registry URIs) only for registry commands."""

    def __init__(self, env: str | None) -> None:
        self.env = env

    @cached_property
    def root(self) -> Path | None:
        from kedro.utils import find_kedro_project

        root = find_kedro_project(Path.cwd())
        if root is not None:
            from kedro.framework.startup import bootstrap_project

            bootstrap_project(root)
        return root

    def require_root(self) -> Path:
        if self.root is None:
            raise BadInput(
                f"{Path.cwd()} is not inside a Kedro project (no pyproject.toml with "
                "[tool.kedro]); run from the relsafe project folder"
            )
        return self.root

    @cached_property
    def config_loader(self):
        from kedro.framework.project import settings

        root = self.require_root()
        return settings.CONFIG_LOADER_CLASS(
            conf_source=str(root / settings.CONF_SOURCE),
            env=self.env,
            **settings.CONFIG_LOADER_ARGS,
        )

    @cached_property
    def params(self) -> dict:
        """Validated params (:func:`relsafe.config_schema.validate_params`); {} outside a project."""
        if self.root is None:
            return {}
        from relsafe.config_schema import validate_params

        params = dict(self.config_loader["parameters"])
        validate_params(params, source=f"conf/{self.env or 'local'}")
        return params

    def cli_params(self, section: str) -> dict:
        from relsafe.config_schema import CliBlock

        block = CliBlock.model_validate(self.params.get("cli") or {})
        return getattr(block, section).model_dump()

    def catalog_path(self, name: str) -> Path:
        """The file behind catalog entry ``name`` (relative paths from the project root)."""
        root = self.require_root()
        entry = self.config_loader["catalog"].get(name)
        path = (entry or {}).get("filepath")
        if not path:
            raise BadInput(
                f"the catalog (conf/*/catalog.yml) has no entry {name!r} with a filepath"
            )
        return Path(path) if Path(path).is_absolute() else root / path

    def relative(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.require_root().resolve()))
        except ValueError:
            return str(path)

    @cached_property
    def context(self):
        from kedro.framework.session import KedroSession

        root = self.require_root()
        with KedroSession.create(project_path=root, env=self.env) as session:
            return session.load_context()

    def registry(self):
        """An MLflow client on the project's tracking/registry store (as ``kedro run`` sets it)."""
        from mlflow.tracking import MlflowClient

        from relsafe.registry.aliases import ensure_store

        self.context  # noqa: B018 - the hooks configure MLflow
        ensure_store()
        return MlflowClient()

    def family(self) -> str:
        return str((self.params.get("model") or {}).get("family", "encoder"))

    def model_name(self, name: str | None) -> str:
        if name:
            return name
        from relsafe.registry.aliases import registered_model_name

        return registered_model_name(self.family(), self.params.get("register") or {})


# --- the group -------------------------------------------------------------------------------


@click.group(name="relsafe", context_settings=CONTEXT_SETTINGS)
@click.option(
    "--env",
    "-e",
    default=None,
    help="Kedro configuration environment (conf/<env>), e.g. `lm` for the causal-LM model.",
)
@click.pass_context
def relsafe(ctx: click.Context, env: str | None) -> None:
    """relsafe operator commands: policy, probe, compare, status (and run).

    Exit codes: 0 ok; 1 failed check or registry failure; 2 bad usage or input.
    """
    if ctx.invoked_subcommand != "run":
        logs_to_stderr()
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    ctx.obj = Project(env)


def logs_to_stderr() -> None:
    """Point the root logger's console handlers at stderr: stdout is the command's output."""
    import logging

    for handler in logging.getLogger().handlers:
        if hasattr(handler, "console"):  # rich (Kedro's default handler)
            from rich.console import Console

            handler.console = Console(stderr=True)
        elif isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)


relsafe.add_command(run, "run")


@relsafe.group(context_settings=CONTEXT_SETTINGS)
def policy() -> None:
    """Check the safety policy and explain how it reads a caption."""


def _policy_file(project: Project, file: str | None) -> Path:
    if file:
        return Path(file)
    return project.catalog_path("safety_policy")


def _load_policy_file(project: Project, path: Path):
    import yaml

    from relsafe.policy import load_policy

    if not path.is_file():
        raise BadInput(f"policy file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BadInput(f"{path} is not valid YAML: {exc}") from exc
    source = project.relative(path) if project.root is not None else str(path)
    return load_policy(data, source=source), source


@policy.command("check", context_settings=CONTEXT_SETTINGS)
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@json_option
@click.pass_obj
@handles_errors
def policy_check(project: Project, file: str | None, as_json: bool) -> None:
    """Validate the safety policy FILE (default: the catalog's safety_policy,
    conf/base/safety_policy.yml) and list its classes, rules and lexicon sizes.

    An invalid policy exits 1 with the errors the pipeline raises (PolicyError, every problem
    by key); a missing or unparsable file exits 2.
    """
    from relsafe.policy import PolicyError
    from relsafe.policy.explain import summarise

    path = _policy_file(project, file)
    try:
        pol, source = _load_policy_file(project, path)
    except PolicyError as exc:
        if as_json:
            click.echo(
                json.dumps(
                    {"ok": False, "file": str(path), "error": "PolicyError", "message": str(exc)},
                    indent=2,
                )
            )
        else:
            click.echo(f"error (PolicyError): {exc}", err=True)
        sys.exit(EXIT_FAIL)
    summary = {"ok": True, "file": source, **summarise(pol)}
    emit(summary, as_json, _render_policy_summary)


def _render_policy_summary(s: dict) -> None:
    t = s["totals"]
    click.echo(f"{s['file']}: valid (version {s['version']}, sha256 {s['sha256'][:12]})")
    click.echo(f"\nclasses ({t['classes']}):")
    width = max(len(n) for n in s["classes"])
    for name, c in s["classes"].items():
        click.echo(
            f"  {name:<{width}}  {c['role']:<8}  {c['lemmas']:>3} lemmas, "
            f"{c['held_out']} held out, {c['exclude']} excluded"
        )
    click.echo(f"\nrules ({t['rules']}):")
    width = max(len(r["id"]) for r in s["rules"])
    for r in s["rules"]:
        click.echo(
            f"  {r['id']:<{width}}  {r['subject']} {r['relation']} {r['object']}"
            f"  [{r['category']}, {r['severity']}]  {r['redirects']} redirect(s)"
        )
    click.echo(
        f"\nlexicon: {t['lemmas']} lemmas, {t['held_out']} held out, {t['exclude']} excluded "
        f"compounds, {t['partitives']} partitives"
    )


@policy.command("explain", context_settings=CONTEXT_SETTINGS)
@click.argument("texts", nargs=-1, required=True)
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Policy file (default: the catalog's safety_policy).",
)
@json_option
@click.pass_obj
@handles_errors
def policy_explain(
    project: Project, texts: tuple[str, ...], policy_file: str | None, as_json: bool
) -> None:
    """Explain how the policy reads each caption TEXT: its O-R-O tuples (negation included),
    the rules they match and, when none does, why (each word's class, or that it is in no
    class; the nearest rules and what they miss).

    Example: relsafe policy explain "a toddler sipping wine"
    """
    from relsafe.oro import TupleExtractor
    from relsafe.policy import PolicyError
    from relsafe.policy.explain import explain_caption

    try:
        pol, source = _load_policy_file(project, _policy_file(project, policy_file))
    except PolicyError as exc:
        raise CommandFailed(str(exc)) from exc
    extract = project.params.get("extract_tuples") or {}
    extractor = TupleExtractor(model=extract.get("spacy_model"))
    max_chars = int(extract.get("max_chars", 1000))
    results = [explain_caption(pol, extractor, t, max_chars) for t in texts]
    emit({"ok": True, "policy": source, "captions": results}, as_json, _render_explain)


def _render_explain(data: dict) -> None:
    for i, e in enumerate(data["captions"]):
        if i:
            click.echo("")
        click.echo(f"{e['text']!r}: {e['verdict']}")
        for t in e["tuples"]:
            neg = "  (negated)" if t["negated"] else ""
            click.echo(f"  tuple: {t['text']}{neg}")
            for part in ("subject", "relation", "object"):
                click.echo(f"    {part:<8} {t['describe'][part]}")
            click.echo(f"    -> {t['why']}")


# --- probe -----------------------------------------------------------------------------------


def model_uri(ref: str) -> str:
    """``models:/...``, ``runs:/...`` or a path as given; ``name@alias`` / ``name/3`` get
    ``models:/`` in front."""
    if ":/" in ref or Path(ref).exists():
        return ref
    return f"models:/{ref}"


@relsafe.command(context_settings=CONTEXT_SETTINGS)
@click.argument("model_ref", metavar="MODEL_URI")
@click.argument("texts", nargs=-1, required=True)
@click.option(
    "--gallery",
    type=click.Path(dir_okay=False),
    default=None,
    help="Encoder: gallery file (csv, parquet, jsonl, json or txt). Default: the eval set.",
)
@click.option("--column", default=None, help="Encoder: gallery column (default from conf).")
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="Encoder: entries shown.")
@click.option(
    "--max-new-tokens", type=click.IntRange(min=1), default=None, help="LM: tokens per answer."
)
@json_option
@click.pass_obj
@handles_errors
def probe(
    project: Project,
    model_ref: str,
    texts: tuple[str, ...],
    gallery: str | None,
    column: str | None,
    top_k: int | None,
    max_new_tokens: int | None,
    as_json: bool,
) -> None:
    """Show the base and the edited model's outputs side by side for each TEXT.

    MODEL_URI: models:/relsafe-encoder@champion, relsafe-lm@challenger, models:/relsafe-lm/3,
    runs:/<run>/model or a local model folder.

    An LM (or VLM) answers each prompt with and without the edit; each answer is labelled by
    the evaluation's judge (evaluate_edit.lm.judge): refusal, compliance, empty or degenerate.
    An encoder lists the nearest gallery entries (embedded by the base, standing in for
    images) for each text.
    """
    import mlflow

    from relsafe.registry.probe import model_family, probe_encoder, probe_lm, read_gallery

    conf = project.cli_params("probe") if project.root is not None else {}
    uri = model_uri(model_ref)
    if uri.startswith("models:/"):
        project.registry()
        _check_registered(uri)
    model = mlflow.pyfunc.load_model(uri)
    family = model_family(model)
    out: dict[str, Any] = {"ok": True, "model_uri": uri, "family": family}
    if family == "encoder":
        if gallery:
            path = Path(gallery)
        else:
            path = project.catalog_path(conf.get("gallery_dataset", "eval_set"))
        col = column or conf.get("gallery_column", "gallery_text")
        items = read_gallery(path, col)
        k = top_k or int(conf.get("top_k", 5))
        out |= {"gallery": str(path), "gallery_size": len(items), "top_k": k}
        out["results"] = probe_encoder(model, list(texts), items, k)
        emit(out, as_json, _render_encoder_probe)
    else:
        from relsafe.evaluation.judges import get_judge

        lm = (project.params.get("evaluate_edit") or {}).get("lm") or {}
        judge_conf = dict(lm.get("judge") or {"name": "refusal_rules"})
        judge = get_judge(judge_conf.pop("name", "refusal_rules"), **judge_conf)
        n = max_new_tokens or int(conf.get("max_new_tokens", 64))
        out |= {"max_new_tokens": n, "judge": (lm.get("judge") or {}).get("name", "refusal_rules")}
        out["results"] = probe_lm(model, list(texts), n, judge, lm.get("degenerate"))
        emit(out, as_json, _render_lm_probe)


def _check_registered(uri: str) -> None:
    """A clear error for ``models:/name@alias`` or ``models:/name/<version>`` that is not there."""
    from mlflow.tracking import MlflowClient

    from relsafe.registry.compare import resolve_version

    ref = uri[len("models:/") :]
    if "@" in ref:
        name, alias = ref.split("@", 1)
        resolve_version(MlflowClient(), name, alias)
    elif "/" in ref and ref.rsplit("/", 1)[1].isdigit():
        name, version = ref.rsplit("/", 1)
        resolve_version(MlflowClient(), name, version)
    else:
        from relsafe.registry.aliases import get_registered_model

        get_registered_model(MlflowClient(), ref.split("/", 1)[0])


def _clip(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _render_encoder_probe(data: dict) -> None:
    click.echo(
        f"{data['model_uri']} (encoder): nearest of {data['gallery_size']} gallery entries "
        f"in {data['gallery']}, embedded by the base"
    )
    width = 46
    for r in data["results"]:
        click.echo(f"\n{r['text']!r}  (drift base->edit {r['drift']:.4f})")
        click.echo(f"  {'base':<{width + 8}}  edit")
        for i, (b, e) in enumerate(zip(r["base"], r["edit"]), 1):
            left = f"{i}. {b['cosine']:.3f} {_clip(b['text'], width)}"
            click.echo(f"  {left:<{width + 8}}  {i}. {e['cosine']:.3f} {_clip(e['text'], width)}")


def _render_lm_probe(data: dict) -> None:
    click.echo(f"{data['model_uri']} ({data['family']}), judge {data['judge']}")
    for r in data["results"]:
        click.echo(f"\nprompt: {r['prompt']}")
        for side in ("base", "edit"):
            click.echo(f"  {side} [{r[side]['label']}]: {_clip(r[side]['response'], 300)}")


# --- compare ---------------------------------------------------------------------------------


@relsafe.command(context_settings=CONTEXT_SETTINGS)
@click.argument("a", required=False, default="champion")
@click.argument("b", required=False, default="challenger")
@click.option(
    "--model",
    "model",
    default=None,
    help="Registered model (default from model.family: relsafe-encoder).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="HTML report (default cli.compare.report: data/08_reporting/model_comparison.html).",
)
@json_option
@click.pass_obj
@handles_errors
def compare(
    project: Project, a: str, b: str, model: str | None, output: str | None, as_json: bool
) -> None:
    """Compare version B with version A (aliases or version numbers; default champion and
    challenger): metrics with 95% intervals, each promotion gate's verdict on B against A
    (promote.gates for the model's family), and lineage (data hash, policy hash, git commit).
    Writes an HTML comparison linking both model cards.

    Exits 1 when a gate fails (B would not be promoted over A), 0 when all pass.
    """
    from relsafe.evaluation.report import write_text_atomic
    from relsafe.registry.compare import compare_versions, render_html

    client = project.registry()
    name = project.model_name(model)
    mv_family = _version_family(client, name, b) or project.family()
    promote_params = project.params.get("promote") or {}
    gates = (promote_params.get("gates") or {}).get(mv_family)
    if gates is None:
        raise BadInput(
            f"parameters_promote.yml: promote.gates.{mv_family} is missing (model {name!r}); "
            "use --env for that family's config"
        )
    from relsafe.pipelines.register.nodes import headline_for

    result = compare_versions(
        client,
        name,
        a,
        b,
        gates,
        headline_for(mv_family, project.params.get("register") or {}),
        promote_params.get("missing_champion_metric", "fail"),
    )
    root = project.require_root()
    path = Path(output) if output else root / project.cli_params("compare")["report"]
    write_text_atomic(path, render_html(result, path.parent, root))
    result |= {"ok": result["passed"], "report": str(path)}
    emit(result, as_json, _render_compare)
    if not result["passed"]:
        sys.exit(EXIT_FAIL)


def _version_family(client, name: str, ref: str) -> str | None:
    from relsafe.registry.compare import resolve_version

    mv = resolve_version(client, name, ref)
    return (mv.tags or {}).get("family") if mv is not None else None


def _fmt_cell(value, lo, hi) -> str:
    if value is None:
        return "-"
    out = f"{value:.4f}"
    return out + (f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else "")


def _render_compare(r: dict) -> None:
    from relsafe.registry.compare import version_label

    a, b = r["a"], r["b"]
    la, lb = version_label(r["a_ref"], a), version_label(r["b_ref"], b)
    click.echo(f"{r['model_name']}: {la} vs {lb}\n")
    width = max([len(m["metric"]) for m in r["metrics"]] + [6])
    click.echo(f"  {'metric':<{width}}  {la:<26}  {lb:<26}  delta")
    for m in r["metrics"]:
        delta = "-" if m["delta"] is None else f"{m['delta']:+.4f}"
        click.echo(
            f"  {m['metric']:<{width}}  {_fmt_cell(m['a'], m['a_lo'], m['a_hi']):<26}  "
            f"{_fmt_cell(m['b'], m['b_lo'], m['b_hi']):<26}  {delta}"
        )
    click.echo(f"\ngates on {lb} against {la}:")
    for g in r["gates"]:
        click.echo(f"  {'pass' if g['passed'] else 'FAIL'}  {g['reason']}")
    click.echo("\nlineage:")
    for key in ("dvc_data_hash", "policy_sha256", "git_commit"):
        va = a["lineage"][key] if a else "-"
        click.echo(f"  {key:<14} {la}: {va}\n  {'':<14} {lb}: {b['lineage'][key]}")
    click.echo("\nmodel cards:")
    for label, s in ((la, a), (lb, b)):
        click.echo(f"  {label}: {(s or {}).get('card_uri') or 'none'}")
    verdict = "all gates pass" if r["passed"] else "some gates FAIL"
    click.echo(f"\n{verdict}; report: {r['report']}")


# --- status ----------------------------------------------------------------------------------


@relsafe.command(context_settings=CONTEXT_SETTINGS)
@click.option("--model", "models", multiple=True, help="Only this registered model (repeatable).")
@click.option("--no-dvc", is_flag=True, help="Skip `dvc status`.")
@json_option
@click.pass_obj
@handles_errors
def status(project: Project, models: tuple[str, ...], no_dvc: bool, as_json: bool) -> None:
    """List the registered models: aliases, newest versions with their data and policy hashes
    and promotion decisions; and whether `dvc status` of this env's family chain (`promote`,
    or `promote_<env>`, and the stages it reads from) is clean (DVC missing or not a repository
    is reported, not an error)."""
    from relsafe.dvc_stages import family_target
    from relsafe.registry.status import dvc_status, registry_status

    conf = project.cli_params("status")
    client = project.registry()
    data: dict[str, Any] = {
        "ok": True,
        "models": registry_status(client, list(models) or None, int(conf["max_versions"])),
    }
    if models and not data["models"]:
        raise BadInput(f"no registered model named {', '.join(models)}")
    if no_dvc:
        data["dvc"] = {"clean": None, "changed": [], "message": "skipped (--no-dvc)"}
    else:
        root = project.require_root()
        data["dvc"] = dvc_status(
            root, float(conf["dvc_timeout_s"]), family_target(root, project.env)
        )
    emit(data, as_json, _render_status)


def _short(value: str | None, n: int = 12) -> str:
    return "-" if not value or value == "unknown" else str(value)[:n]


def _render_status(data: dict) -> None:
    if not data["models"]:
        click.echo("no registered models yet (run `kedro run` to register one)")
    for m in data["models"]:
        aliases = ", ".join(f"{k}=v{v}" for k, v in sorted(m["aliases"].items())) or "none"
        click.echo(f"{m['name']}  aliases: {aliases}")
        for v in m["versions"]:
            tag = f" [{', '.join(v['aliases'])}]" if v["aliases"] else ""
            decision = v["decision"] or "undecided"
            if v["rolled_back"]:
                decision += ", rolled back"
            click.echo(
                f"  v{v['version']:<4}{tag:<24} data {_short(v['dvc_data_hash'])}  "
                f"policy {_short(v['policy_sha256'])}  git {_short(v['git_commit'], 8)}  "
                f"{decision}"
            )
        last = m["last_decision"]
        if isinstance(last, dict):
            click.echo(
                f"  last decision: {last.get('decision')} v{last.get('candidate_version')} "
                f"at {last.get('time')}"
            )
    d = data["dvc"]
    state = {True: "clean", False: "NOT clean", None: "unknown"}[d["clean"]]
    click.echo(f"\ndvc status: {state} ({d['message']})")


# --- Kedro ---------------------------------------------------------------------------------------


@click.group(context_settings=CONTEXT_SETTINGS, name=__file__)
def cli() -> None:
    """relsafe project commands (Kedro loads this group from relsafe.cli)."""


cli.add_command(relsafe)

__all__ = ["cli", "relsafe", "run"]
