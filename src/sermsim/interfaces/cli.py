"""The `sermsim` command line. Each command calls one public function and renders it.

A user's mistake is one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sermsim import DISCLAIMER, __version__
from sermsim.core.errors import NumericalError, SermsimError, SpecError

if TYPE_CHECKING:  # imported where used: the CLI starts fast
    from sermsim.outcomes.ensemble import Ensemble
    from sermsim.trials.run import TrialOutcome
    from sermsim.trials.spec import TrialSpec

# Options shared by `trial run` and `compare`: the parameter ensemble in their intervals.
ParameterUncertaintyOption = Annotated[
    bool,
    typer.Option(
        "--parameter-uncertainty/--sampling-only",
        help="Add the shipped parameter ensemble's uncertainty to the intervals.",
    ),
]
MembersOption = Annotated[
    int | None,
    typer.Option("--members", help="Use the first N ensemble members (default: all)."),
]

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help=f"sermsim: a QSP simulator of selective estrogen receptor modulators. {DISCLAIMER}",
)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        typer.echo(f"sermsim {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


@app.command()
def profile(
    regimen: Annotated[
        str | None,
        typer.Argument(
            help="AGENT[:DOSE[@INTERVAL_H]][[dA-B/C]] joined by '+', e.g. raloxifene:60, "
            "conjugated_estrogens:0.45+bazedoxifene:20, clomiphene:50[d5-9/28] (days 5-9 of "
            "each 28-day cycle); an agent alone is its standard regimen"
        ),
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every agent at its standard dose, and combinations.")
    ] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write JSON, CSV and a heatmap PNG here.")
    ] = None,
) -> None:
    """Tissue-selectivity profile: intrinsic activity and net action per tissue."""
    from sermsim.agents import load_agents, parse_regimen
    from sermsim.interfaces import render
    from sermsim.selectivity import profile_all, profile_regimen

    if all_ and regimen is not None:
        raise SpecError("regimen", regimen, "give a REGIMEN or --all, not both")
    if not all_ and regimen is None:
        raise SpecError("regimen", "", "give a REGIMEN (e.g. raloxifene:60) or --all")
    agents = load_agents()
    if all_:
        from rich.console import Console
        from rich.progress import Progress

        with Progress(transient=True, console=Console(stderr=True)) as bar:
            task = bar.add_task("profiling", total=None)
            profiles = profile_all(
                agents, on_each=lambda label: bar.update(task, description=label, advance=1)
            )
    else:
        assert regimen is not None
        profiles = [profile_regimen(parse_regimen(regimen, agents), agents)]
    if json_:
        typer.echo(render.profile_json(profiles, single=not all_))
    else:
        typer.echo(render.profile_table(profiles))
    if out is not None:
        for path in render.write_profile_outputs(profiles, out):
            typer.echo(f"wrote {path}", err=True)


@app.command()
def simulate(
    patient: Annotated[Path, typer.Option("--patient", help="Patient YAML/JSON (TRIAL_SPEC.md).")],
    regimen: Annotated[
        str,
        typer.Option(
            "--regimen",
            help="AGENT[:DOSE[@INTERVAL_H]] joined by '+'; none (no treatment); or all (every "
            "agent at its standard dose, the CE/BZA combination and no treatment).",
        ),
    ] = "none",
    years: Annotated[float, typer.Option("--years", help="Years to simulate.")] = 3.0,
    json_: Annotated[
        bool, typer.Option("--json", help="Print the JSON summary on stdout.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write CSV, Parquet, a PNG and summary.json here."),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="Seed for missed doses (adherence).")
    ] = 0,
) -> None:
    """Daily trajectories of one person on one regimen: hormones, bone, breast, endometrium,
    liver, coagulation, hot flushes, vagina."""
    import json

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from sermsim.agents import load_agents, parse_regimen, regimen_label
    from sermsim.interfaces import simulation_render as sr
    from sermsim.physiology.patient import load_patient
    from sermsim.physiology.simulate import MAX_YEARS
    from sermsim.physiology.simulate import simulate as run_simulation
    from sermsim.selectivity import standard_regimens

    person = load_patient(patient)
    if not (0.0 < years <= MAX_YEARS):  # before the progress bar, so an error is one line
        raise SpecError("years", years, f"give a number of years in (0, {MAX_YEARS:g}]")
    if out is not None and out.exists() and not out.is_dir():
        raise SpecError("out", str(out), "give a folder (this is an existing file)")
    agents = load_agents()
    every = regimen.strip().lower() == "all"
    regimens = [(), *standard_regimens(agents)] if every else [parse_regimen(regimen, agents)]
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    datasets = []
    console = Console(stderr=True)
    with Progress(
        *columns, transient=True, console=console, disable=not console.is_terminal
    ) as bar:
        task = bar.add_task(f"simulating {years:g} years", total=len(regimens))
        for doses in regimens:
            bar.update(task, description=f"{regimen_label(doses)} ({years:g} y)")
            datasets.append(run_simulation(person, doses, years, seed=seed))
            bar.advance(task)
    if json_:
        if every:
            typer.echo(json.dumps([sr.summary(ds) for ds in datasets], indent=2, allow_nan=False))
        else:
            typer.echo(sr.summary_json(datasets[0]))
    else:
        typer.echo(sr.comparison_table(datasets) if every else sr.summary_table(datasets[0]))
    if out is not None:
        try:
            for ds in datasets:
                where = out / _folder(ds.attrs["regimen"]) if every else out
                for path in sr.write_simulation_outputs(ds, where):
                    typer.echo(f"wrote {path}", err=True)
            if every:
                sr.plot_comparison(datasets, out / "comparison.png")
                typer.echo(f"wrote {out / 'comparison.png'}", err=True)
        except OSError as exc:
            raise SpecError(
                "out", str(out), f"choose a folder you can write ({exc.strerror})"
            ) from None


trial_app = typer.Typer(
    add_completion=False,
    rich_markup_mode=None,
    help=f"Virtual trials (TRIAL_SPEC.md). {DISCLAIMER}",
)
app.add_typer(trial_app, name="trial")


class _Reporter:
    """Progress on stderr: a bar on a terminal, one line per stage otherwise."""

    def __init__(self, title: str) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.title = title
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> _Reporter:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        if self.console.is_terminal:
            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
                transient=True,
                console=self.console,
            )
            self.bar.__enter__()
            self.task = self.bar.add_task(self.title, total=1.0)
        return self

    def __call__(self, message: str, fraction: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, description=f"{self.title}: {message}", completed=fraction)
        else:
            typer.echo(f"{self.title}: {message}", err=True)

    def note(self, message: str) -> None:
        """One line on stderr (above the bar when there is one)."""
        if self.bar is not None:
            self.bar.console.print(f"{self.title}: {message}", markup=False, highlight=False)
        else:
            typer.echo(f"{self.title}: {message}", err=True)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _check_folder(out: Path | None) -> None:
    """An --out that exists must be a folder (checked before any long work)."""
    if out is not None and out.exists() and not out.is_dir():
        raise SpecError("out", str(out), "give a folder (this is an existing file)")


def _write_files(out: Path, write: Callable[[], Iterable[Path]]) -> None:
    """Run a writer, naming each file on stderr; a folder we cannot write is the user's."""
    try:
        for path in write():
            typer.echo(f"wrote {path}", err=True)
    except OSError as exc:
        raise SpecError(
            "out", str(out), f"choose a folder you can write ({exc.strerror})"
        ) from None


@trial_app.command("run")
def trial_run(
    spec: Annotated[Path, typer.Argument(help="Trial spec, YAML or JSON (TRIAL_SPEC.md).")],
    json_: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON on stdout.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write result.json, summary.txt, curves, plots here."),
    ] = None,
    shards: Annotated[
        int | None,
        typer.Option(
            "--shards",
            help="Split every arm's people into N slices, each kept in OUT/shards as it "
            "finishes; a rerun resumes (needs --out).",
        ),
    ] = None,
    dask_local: Annotated[
        int | None,
        typer.Option("--dask-local", help="Run the shards on a local Dask cluster of K processes."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler", help="Run the shards on this Dask scheduler (tcp://HOST:PORT)."
        ),
    ] = None,
    parameter_uncertainty: ParameterUncertaintyOption = True,
    members: MembersOption = None,
) -> None:
    """Run a virtual trial: events per arm, relative risks with 95% CIs (sampling, and
    sampling with parameter uncertainty), continuous endpoints, and the model's expectations
    without sampling noise."""
    import json

    from sermsim.agents import load_agents
    from sermsim.interfaces import trial_render as tr
    from sermsim.trials.spec import load_trial

    _check_shard_options(shards, out, dask_local, scheduler)
    ensemble = _ensemble(parameter_uncertainty, members)
    trial = load_trial(spec, load_agents())
    _check_folder(out)
    with _Reporter(trial.name) as report:
        outcome = _run_trial(trial, out, shards, dask_local, scheduler, report, ensemble)
    if json_:
        typer.echo(json.dumps(outcome.result, indent=2, allow_nan=False))
    else:
        typer.echo(tr.trial_table(outcome))
    if out is not None:
        _write_files(out, lambda: tr.write_trial_outputs(outcome, out))


def _check_shard_options(
    shards: int | None, out: Path | None, dask_local: int | None, scheduler: str | None
) -> None:
    """The sharding options of trial run, checked before any work."""
    if shards is not None and shards < 1:
        raise SpecError("shards", shards, "give a whole number of shards >= 1")
    if shards is not None and out is None:
        raise SpecError("shards", shards, "shards are kept in a folder: add --out DIR")
    if dask_local is not None and dask_local < 1:
        raise SpecError("dask-local", dask_local, "give a number of worker processes >= 1")
    if dask_local is not None and scheduler is not None:
        raise SpecError("scheduler", scheduler, "give --dask-local K or --scheduler, not both")
    if scheduler is not None and (not scheduler.strip() or not scheduler.isprintable()):
        # found by fuzzing: an address across lines was echoed in the progress before refusal
        raise SpecError("scheduler", scheduler, "give the address as tcp://HOST:PORT")
    if (dask_local is not None or scheduler is not None) and shards is None:
        option, value = (
            ("dask-local", dask_local) if scheduler is None else ("scheduler", scheduler)
        )
        raise SpecError(option, value, "Dask runs shards: add --shards N and --out DIR")


def _ensemble(on: bool, members: int | None) -> Ensemble | None:
    """The shipped parameter ensemble (its first ``members``), or None for sampling only."""
    from sermsim.outcomes.ensemble import default_ensemble

    if members is not None and members < 2:
        raise SpecError("members", members, "give at least 2 ensemble members")
    if not on:
        return None
    ensemble = default_ensemble()
    if members is not None and members > len(ensemble):
        raise SpecError("members", members, f"the shipped ensemble has {len(ensemble)} members")
    return ensemble.take(members) if members is not None else ensemble


def _run_trial(
    trial: TrialSpec,
    out: Path | None,
    shards: int | None,
    dask_local: int | None,
    scheduler: str | None,
    report: _Reporter,
    ensemble: Ensemble | None = None,
) -> TrialOutcome:
    """One run of trial run: in one go, or in shards (here or on Dask)."""
    from sermsim.trials.run import run_trial
    from sermsim.trials.shards import check_shards, run_sharded

    if shards is None or out is None:
        return run_trial(trial, progress=report, ensemble=ensemble)
    check_shards(shards, trial)
    if dask_local is None and scheduler is None:
        return run_sharded(
            trial, out, shards, progress=report, notice=report.note, ensemble=ensemble
        )
    from sermsim.trials.cluster import dask_shards

    report("starting Dask" if scheduler is None else f"connecting to {scheduler}", 0.0)
    with dask_shards(local_workers=dask_local, scheduler=scheduler) as runner:
        return run_sharded(
            trial,
            out,
            shards,
            progress=report,
            notice=report.note,
            runner=runner,
            ensemble=ensemble,
        )


@app.command()
def compare(
    patient: Annotated[Path, typer.Option("--patient", help="Patient YAML/JSON (TRIAL_SPEC.md).")],
    years: Annotated[float, typer.Option("--years", help="Horizon in years.")] = 5.0,
    agents: Annotated[
        str | None,
        typer.Option(
            "--agents",
            help="Options to compare with no treatment, comma-separated: agents (their standard "
            "regimen) or AGENT:DOSE[+AGENT:DOSE] (default: every SERM and CE/BZA).",
        ),
    ] = None,
    weight: Annotated[
        list[str] | None,
        typer.Option(
            "--weight",
            help="ENDPOINT=W: the endpoint's weight in the net-benefit index (repeatable), "
            "e.g. --weight vertebral_fracture=0.5.",
        ),
    ] = None,
    json_: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON on stdout.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write result.json, summary.txt, report.html and figures here."),
    ] = None,
    parameter_uncertainty: ParameterUncertaintyOption = True,
    members: MembersOption = None,
) -> None:
    """Benefit and harm for one person: expected events per 1,000 people like her over the
    horizon for no treatment and each option, with 95% intervals (sampling and parameter
    uncertainty), a weighted net-benefit index, suitability flags and the tissue signals
    behind the numbers."""
    import json

    from sermsim.compare import compare as run_compare
    from sermsim.interfaces import compare_render
    from sermsim.physiology.patient import load_patient

    person = load_patient(patient)
    weights = _weights(weight or [])
    ensemble = _ensemble(parameter_uncertainty, members)
    _check_folder(out)
    with _Reporter("compare") as report:
        result = run_compare(
            person,
            years=years,
            options=agents,
            weights=weights,
            progress=report,
            parameter_uncertainty=ensemble is not None,
            ensemble=ensemble,
        ).result
    if json_:
        typer.echo(json.dumps(result, indent=2, allow_nan=False))
    else:
        typer.echo(compare_render.comparison_table(result))
    if out is not None:
        _write_files(out, lambda: compare_render.write_compare_outputs(result, out))


def _weights(items: list[str]) -> dict[str, float]:
    """``ENDPOINT=W`` options -> a mapping (the values are checked by compare)."""
    weights: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name or not name.isprintable():  # a name '\n' would break the line
            raise SpecError("weight", item, "write ENDPOINT=W, e.g. vertebral_fracture=0.5")
        try:
            weights[name] = float(value)
        except ValueError:
            raise SpecError(f"weights.{name}", value, "give a number") from None
    return weights


@app.command()
def sensitivity(
    patient: Annotated[Path, typer.Option("--patient", help="Patient YAML/JSON (TRIAL_SPEC.md).")],
    regimen: Annotated[
        str, typer.Option("--regimen", help="AGENT[:DOSE[@INTERVAL_H]] joined by '+', or none.")
    ],
    outcome: Annotated[
        str,
        typer.Option(
            "--outcome",
            help="An endpoint of TRIAL_SPEC.md: continuous (e.g. bmd_lumbar_spine_pct, at the "
            "horizon) or an event (e.g. invasive_breast_cancer: relative risk vs none).",
        ),
    ],
    years: Annotated[float, typer.Option("--years", help="Horizon in years.")] = 5.0,
    method: Annotated[
        str,
        typer.Option(
            "--method", help="morris (r (k+1) runs) or sobol (N (k+2) runs, N a power of 2)."
        ),
    ] = "morris",
    # 10 Morris trajectories: the usual minimum for a stable ranking; about 2-6 minutes here
    trajectories: Annotated[
        int, typer.Option("--trajectories", help="Morris trajectories r, or Sobol base samples N.")
    ] = 10,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the sample.")] = 0,
    width: Annotated[
        float,
        typer.Option("--width", help="Sample each parameter over shipped ± WIDTH sd."),
    ] = 2.0,  # about 95 % of a normal's mass (calibration/sensitivity.py WIDTH_SD)
    range_: Annotated[
        str,
        typer.Option(
            "--range",
            help="posterior (the calibration's Laplace sd: what the targets allow) or prior.",
        ),
    ] = "posterior",
    json_: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON on stdout.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write result.json, table.txt and tornado.png here."),
    ] = None,
) -> None:
    """Global sensitivity (SALib) of one outcome for one person on one regimen to every free
    parameter of data/calibration/free_parameters.yaml: Morris mu*/sigma (or Sobol indices)
    and one-at-a-time swings, as a ranked table and a tornado plot."""
    import json

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from sermsim.agents import load_agents, parse_regimen
    from sermsim.calibration.sensitivity import sensitivity as run_sensitivity
    from sermsim.interfaces import sensitivity_render as sr
    from sermsim.physiology.patient import load_patient

    person = load_patient(patient)
    doses = parse_regimen(regimen, load_agents())
    _check_folder(out)
    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} runs"),
        TimeElapsedColumn(),
    )
    with Progress(
        *columns, transient=True, console=console, disable=not console.is_terminal
    ) as bar:
        task = bar.add_task(f"sensitivity of {outcome}", total=None)
        result = run_sensitivity(
            person,
            doses,
            outcome,
            years=years,
            method=method,  # type: ignore[arg-type]  # checked by sensitivity
            trajectories=trajectories,
            seed=seed,
            width_sd=width,
            basis=range_,  # type: ignore[arg-type]  # checked by sensitivity
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if json_:
        typer.echo(json.dumps(result, indent=2, allow_nan=False))
    else:
        typer.echo(sr.sensitivity_table(result))
    if out is not None:
        _write_files(out, lambda: sr.write_sensitivity_outputs(result, out))


@app.command()
def serve(
    host: Annotated[
        str,
        typer.Option("--host", help="Address to listen on (default: this machine only)."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8000,
    warm: Annotated[
        bool,
        typer.Option(
            "--warm/--no-warm",
            help="Compile the engine for the default comparison at start-up, so the first "
            "request does not wait for it.",
        ),
    ] = True,
) -> None:
    """The web app: a page to compare agents for one person, and the HTTP API (/api/profile,
    /api/simulate, /api/compare, /api/trial; OpenAPI schema at /openapi.json)."""
    from sermsim.interfaces.web.app import serve as run_server

    typer.echo(f"sermsim: serving on http://{host}:{port}/  ({DISCLAIMER})", err=True)
    run_server(host, port, warm=warm)


@app.command()
def validate(
    json_: Annotated[
        bool, typer.Option("--json", help="Print the comparison as JSON on stdout.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write validation.json, .txt and an HTML report here."),
    ] = None,
    only: Annotated[
        str | None,
        typer.Option("--only", help="Comma-separated spec names (e.g. p1,more) to run."),
    ] = None,
) -> None:
    """Every calibration target of trials.yaml through its shipped trial spec: the model's
    expectation against the published value and its 95% CI (or stated tolerance)."""
    import json

    from sermsim.interfaces import validation_render as vr
    from sermsim.trials.validate import load_targets, run_validation, validation_json

    targets = load_targets()
    if only:
        names = {n.strip() for n in only.split(",") if n.strip()}
        known = {t.spec for t in targets}
        unknown = sorted(names - known)
        if unknown:
            raise SpecError("only", unknown[0], f"no such spec: use {', '.join(sorted(known))}")
        targets = [t for t in targets if t.spec in names]
    _check_folder(out)
    with _Reporter("validate") as report:
        comparisons = run_validation(targets, progress=report)
    if json_:
        typer.echo(json.dumps(validation_json(comparisons), indent=2, allow_nan=False))
    else:
        typer.echo(vr.validation_table(comparisons))
    if out is not None:
        _write_files(out, lambda: vr.write_validation_outputs(comparisons, out))


@app.command()
def bench(
    json_: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    patients: Annotated[
        int, typer.Option("--patients", help="People for sermsim's engine (at least 1).")
    ] = 1000,
    years: Annotated[
        float, typer.Option("--years", help="Years of treatment (0 < Y <= 60).")
    ] = 5.0,
    roadrunner_patients: Annotated[
        int, typer.Option("--roadrunner-patients", help="People for libRoadRunner (>= 1).")
    ] = 100,
    scipy_patients: Annotated[
        int, typer.Option("--scipy-patients", help="People for SciPy solve_ivp (>= 1).")
    ] = 10,
    trial: Annotated[
        Path | None,
        typer.Option("--trial", help="Instead: time a whole `trial run` of this spec."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write bench.json in this folder.")
    ] = None,
) -> None:
    """Patient-years per second per core of sermsim's engine, libRoadRunner on the exported
    SBML and SciPy, on one population in one run: the ratios, the agreement, the compile
    time, the peak memory and where the time goes (timings are measurements, not claims)."""
    import json

    from sermsim.interfaces import bench as bn
    from sermsim.physiology.simulate import MAX_YEARS

    for name, value in (
        ("patients", patients),
        ("roadrunner-patients", roadrunner_patients),
        ("scipy-patients", scipy_patients),
    ):
        if value < 1:
            raise SpecError(name, value, "give a whole number of people, at least 1")
    if not (0 < years <= MAX_YEARS):
        raise SpecError("years", years, f"give a number of years in (0, {MAX_YEARS:g}]")
    _check_folder(out)
    with _Reporter("bench") as report:
        if trial is not None:
            result = bn.bench_trial(trial, progress=report)
        else:
            config = bn.BenchConfig(patients, years, roadrunner_patients, scipy_patients)
            result = bn.run_bench(config, progress=report)
    text = json.dumps(result, indent=2, allow_nan=False)
    typer.echo(text if json_ else bn.bench_table(result))
    if out is not None:

        def write() -> list[Path]:
            out.mkdir(parents=True, exist_ok=True)
            path = out / "bench.json"
            path.write_text(text + "\n")
            return [path]

        _write_files(out, write)


@app.command()
def calibrate(
    targets: Annotated[
        Path | None,
        typer.Option(
            "--targets",
            help="A registry of blocks and targets in the layout of "
            "data/calibration/free_parameters.yaml (default: that file).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for fit.json, parameters.yaml, ensemble.yaml."),
    ] = None,
    blocks: Annotated[
        list[str] | None, typer.Option("--block", help="Fit only this block (repeatable).")
    ] = None,
    perturb: Annotated[
        float,
        typer.Option("--perturb", help="Start from the shipped values moved by +-F (0 <= F < 1)."),
    ] = 0.0,
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="Seed of the perturbation and starts (>= 0).")
    ] = 0,
    starts: Annotated[int, typer.Option("--starts", help="Optimizer starts per block (>= 1).")] = 1,
    people_per_arm: Annotated[
        int | None,
        typer.Option("--people-per-arm", help="Cap the calibration trials' arms (a quick run)."),
    ] = None,
    ensemble: Annotated[
        int, typer.Option("--ensemble", help="Also draw this many ensemble members (>= 0).")
    ] = 0,
    no_fit: Annotated[
        bool,
        typer.Option("--no-fit", help="Do not fit: evaluate (and build the ensemble) at start."),
    ] = False,
    write: Annotated[
        bool,
        typer.Option("--write", help="Put the fitted values into the shipped data files."),
    ] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Fit the free parameters to the calibration targets (pyPESTO, least squares on the
    targets' z-scores, expected hazards), block by block; report the fit per target, write the
    fitted parameters (each saying what it was fitted to) and optionally the Laplace ensemble.
    Resumable: a block finished in --out is not fitted again."""
    import json

    from sermsim.calibration.run import Settings, run_calibration
    from sermsim.interfaces.calibration_render import calibration_table

    if not (0.0 <= perturb < 1.0):
        raise SpecError("perturb", perturb, "give a fraction in [0, 1), e.g. 0.3")
    if starts < 1:
        raise SpecError("starts", starts, "give a whole number of starts, at least 1")
    if people_per_arm is not None and people_per_arm < 10:
        raise SpecError("people-per-arm", people_per_arm, "give at least 10 people per arm")
    if ensemble < 0:
        raise SpecError("ensemble", ensemble, "give a number of members, 0 or more")
    if targets is not None and not targets.is_file():
        raise SpecError("targets", str(targets), "give an existing registry YAML file")
    _check_folder(out)
    if out is not None:  # before the work: a folder we cannot make is the user's mistake
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            why = f"choose a folder you can write ({exc.strerror})"
            raise SpecError("out", str(out), why) from None
    settings = Settings(
        registry=targets,
        blocks=tuple(blocks) if blocks else None,
        people_per_arm=people_per_arm,
        starts=starts,
        seed=seed,
        perturb=perturb,
        fit=not no_fit,
        members=ensemble,
        write=write,
    )
    if write and no_fit:
        raise SpecError("write", True, "there is nothing to write without a fit: drop --no-fit")
    with _Reporter("calibrate") as report:
        result = run_calibration(settings, out=out, progress=report)
    text = json.dumps(result, indent=2, allow_nan=False)
    typer.echo(text if json_ else calibration_table(result))
    if out is not None:
        typer.echo(f"wrote {out}/fit.json and {out}/parameters.yaml", err=True)


def _folder(label: str) -> str:
    """A folder name for a regimen label: raloxifene:60 -> raloxifene_60."""
    for old, new in ((":", "_"), ("+", "__"), ("@", "_every_"), ("[", "_"), ("]", ""), ("/", "of")):
        label = label.replace(old, new)
    return label


export_app = typer.Typer(
    add_completion=False,
    rich_markup_mode=None,
    help=f"Export the model for other tools. {DISCLAIMER}",
)
app.add_typer(export_app, name="export")


@export_app.command("sbml")
def export_sbml(
    file: Annotated[Path, typer.Argument(help="The SBML file to write (.xml).")],
    patient: Annotated[
        Path, typer.Option("--patient", help="Patient YAML/JSON (TRIAL_SPEC.md).")
    ] = Path("examples/postmenopausal_55.yaml"),
    regimen: Annotated[
        str,
        typer.Option(
            "--regimen", help="AGENT[:DOSE[@INTERVAL_H]][[dA-B/C]] joined by '+', or none."
        ),
    ] = "raloxifene:60",
    years: Annotated[float, typer.Option("--years", help="Years of dosing (0 < Y <= 60).")] = 5.0,
) -> None:
    """One person's physiology on one regimen as SBML Level 3 Version 2: the equations the
    engine runs, dosing as events, the state after the natural-history run-in as initial
    values; checked by libSBML before it is written."""
    from sermsim.agents import load_agents, parse_regimen
    from sermsim.physiology.patient import load_patient
    from sermsim.physiology.sbml import export_sbml as export
    from sermsim.physiology.sbml import sbml_summary
    from sermsim.physiology.simulate import MAX_YEARS

    person = load_patient(patient)
    doses = parse_regimen(regimen, load_agents())
    if not (0.0 < years <= MAX_YEARS):
        raise SpecError("years", years, f"give a number of years in (0, {MAX_YEARS:g}]")
    if file.is_dir():
        raise SpecError("file", str(file), "give a file name (this is a folder)")
    if not file.parent.is_dir():
        raise SpecError("file", str(file), "choose a file in a folder that exists")
    text = export(person, doses, years)
    try:
        file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SpecError(
            "file", str(file), f"choose a file in a folder you can write ({exc.strerror})"
        ) from None
    counts = sbml_summary(text)
    typer.echo(
        f"wrote {file}: {counts['parameters']} parameters, {counts['rate_rules']} rate rules, "
        f"{counts['assignment_rules']} assignment rules, {counts['events']} event "
        "(libSBML consistency checks passed)"
    )
    typer.echo(DISCLAIMER)


@export_app.command("petab")
def export_petab(
    folder: Annotated[Path, typer.Argument(help="The folder to write the PEtab problem to.")],
    blocks: Annotated[
        str | None,
        typer.Option(
            "--blocks",
            help="Physiology blocks of data/calibration/free_parameters.yaml, joined by ','"
            " (default: all).",
        ),
    ] = None,
) -> None:
    """The physiology calibration problem as PEtab v1: one person's SBML model on her
    regimens (conditions), her targets (measurements, noise from their intervals), the free
    parameters (bounds, priors); README.md in the folder says what is left out and why."""
    from sermsim.calibration.petab import export_petab as export

    if folder.exists() and not folder.is_dir():
        raise SpecError("folder", str(folder), "give a folder (this is an existing file)")
    if not folder.parent.is_dir():
        raise SpecError("folder", str(folder), "choose a folder in a folder that exists")
    names = None if blocks is None else [b.strip() for b in blocks.split(",") if b.strip()]
    try:
        result = export(folder, names)
    except OSError as exc:
        raise SpecError(
            "folder", str(folder), f"choose a folder you can write ({exc.strerror})"
        ) from None
    typer.echo(
        f"wrote {folder}: {len(result.measured)} measurements in {len(result.conditions)} "
        f"conditions, {len(result.estimated)} estimated parameters, for one {result.person}; "
        f"{len(result.left_out_targets)} targets left out (see {folder / 'README.md'})"
    )
    typer.echo(DISCLAIMER)


# click's UsageError (typer may vendor click): the base of every command-line usage mistake.
_USAGE_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning a user's mistake into one line and exit code 2 (a
    numerical failure of ours into one line and exit code 1)."""
    try:
        app(args=argv, standalone_mode=False)
        sys.exit(0)
    except typer.Exit as exc:  # --help, --version
        sys.exit(exc.exit_code)
    except _USAGE_ERROR as exc:  # a missing or malformed option: one line, like ours
        typer.echo(f"sermsim: error: {exc.format_message()}", err=True)  # type: ignore[attr-defined]
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    except NumericalError as exc:  # our failure, not the user's: exit 1
        typer.echo(f"sermsim: error: {exc}", err=True)
        sys.exit(1)
    except SermsimError as exc:
        typer.echo(f"sermsim: error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
