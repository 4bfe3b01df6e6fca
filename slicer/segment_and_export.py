"""Segment a CT/MR volume with TotalSegmentator inside 3D Slicer and export OpenAnatomy glTF.

Run by anatomy-gateway (server/engines/slicer/) as:

    Slicer --no-splash --no-main-window --python-script segment_and_export.py \
        --input <volume.nii.gz> --output-dir <dir> --name <name> --task total \
        --quality normal|fast|fastest --device cpu|gpu [--subset a,b] [--reduction 0.9]

Written for Slicer 5.6 and later. Rules this script keeps, because breaking them hangs or
confuses an unattended server:

* Slicer only exits after --python-script when the script calls sys.exit(): every path ends in
  the `finally` of main() with sys.exit(code), whatever was raised.
* No modal dialog may open (nobody can click it): confirmation dialogs are answered in code.
* Slicer on Windows does not forward print() to the caller, so progress, the log and the result
  also go to files in the output folder: progress.jsonl (one JSON object a line, appended),
  script.log and manifest.json (written last, atomically).

Exit codes: 0 success, 1 processing failed, 2 bad command line, 3 a requirement is missing
(extension or Python package); the manifest's "error" says which and how to fix it.
"""

import argparse
import datetime
import importlib
import importlib.util
import inspect
import json
import os
import re
import sys
import time
import traceback

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_MISSING = 3

MANIFEST_VERSION = 1
PROGRESS_FILE = "progress.jsonl"
LOG_FILE = "script.log"
MANIFEST_FILE = "manifest.json"

# Quality names as TotalSegmentator's CLI knows them -> the newer extension API's `quality` values.
QUALITY_TO_API = {"normal": "normal", "fast": "fast", "fastest": "faster"}


class UsageError(Exception):
    pass


class MissingRequirement(Exception):
    """Something must be installed in Slicer; `fix` tells the user how."""

    def __init__(self, message, fix):
        super().__init__(message)
        self.fix = fix


class ArgumentParser(argparse.ArgumentParser):
    # argparse would print and exit on its own; we need the manifest written first.
    def error(self, message):
        raise UsageError(message)


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class Reporter:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.last_percent = 0

    def _append(self, file_name, text):
        if not self.out_dir:
            return
        try:
            with open(os.path.join(self.out_dir, file_name), "a", encoding="utf-8") as f:
                f.write(text + "\n")
                f.flush()
        except OSError:
            pass

    def log(self, message):
        for line in str(message).splitlines() or [""]:
            print(line, flush=True)
            self._append(LOG_FILE, line)

    def progress(self, percent, status):
        percent = max(self.last_percent, min(100, int(percent)))
        self.last_percent = percent
        record = json.dumps({"time": now_iso(), "percent": percent, "status": status})
        print("AGW_PROGRESS " + record, flush=True)
        self._append(PROGRESS_FILE, record)


def write_json_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def parse_args(argv):
    p = ArgumentParser(prog="segment_and_export.py", add_help=False)
    p.add_argument("--input", required=True)
    p.add_argument("--output-dir", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--task", default="total")
    p.add_argument("--quality", choices=sorted(QUALITY_TO_API), default="normal")
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    p.add_argument("--subset", default="")
    p.add_argument("--reduction", type=float, default=0.9)
    p.add_argument("--install-requirements", choices=["yes", "no"], default="yes")
    args = p.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,128}", args.name) or args.name.startswith("."):
        raise UsageError("--name must be 1-128 letters, digits, '.', '_' or '-'")
    if not 0.0 <= args.reduction < 1.0:
        raise UsageError("--reduction must be between 0 and 1 (fraction of triangles removed)")
    args.subset = [s.strip() for s in args.subset.split(",") if s.strip()]
    return args


def output_dir_from_argv(argv):
    # Used only when argument parsing failed, so the manifest can still be written.
    for i, a in enumerate(argv):
        if a == "--output-dir" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--output-dir="):
            return a.split("=", 1)[1]
    return None


class HeadlessDialogs:
    """Answers Slicer's modal confirmation dialogs, which would otherwise wait forever."""

    NAMES = ("confirmOkCancelDisplay", "confirmYesNoDisplay", "confirmRetryCloseDisplay")

    def __init__(self, slicer, reporter):
        self.util = slicer.util
        self.reporter = reporter
        self.saved = {}

    def __enter__(self):
        for name in self.NAMES:
            original = getattr(self.util, name, None)
            if original is None:
                continue
            self.saved[name] = original
            answer = name != "confirmRetryCloseDisplay"
            setattr(self.util, name, self._answer(name, answer))
        return self

    def _answer(self, name, answer):
        def dialog(text="", *args, **kwargs):
            self.reporter.log("[dialog answered %s] %s" % ("yes" if answer else "no", str(text).strip()))
            return answer

        return dialog

    def __exit__(self, *exc):
        for name, original in self.saved.items():
            setattr(self.util, name, original)
        return False


def package_version(dist_name):
    try:
        from importlib import metadata
    except ImportError:
        return None
    try:
        return metadata.version(dist_name)
    except Exception:
        return None


def collect_versions(slicer):
    versions = {}
    try:
        versions["slicer"] = str(slicer.app.applicationVersion)
        versions["slicerRevision"] = str(slicer.app.revision)
    except Exception:
        pass
    try:
        em = slicer.app.extensionsManagerModel()
        for ext in ("TotalSegmentator", "SlicerOpenAnatomy", "PyTorch", "NNUNet"):
            if em.isExtensionInstalled(ext):
                meta = em.extensionMetadata(ext) or {}
                versions["extension:" + ext] = str(meta.get("revision") or meta.get("scmrevision") or "installed")
    except Exception:
        pass
    for dist in ("TotalSegmentator", "torch", "nnunetv2"):
        v = package_version(dist)
        if v:
            versions[dist.lower()] = v
    versions["python"] = sys.version.split()[0]
    return versions


def missing_python_packages():
    return [m for m in ("torch", "nnunetv2", "totalsegmentator") if importlib.util.find_spec(m) is None]


def import_extension_logic(module, cls, extension):
    try:
        mod = importlib.import_module(module)
        return getattr(mod, cls)
    except (ImportError, AttributeError) as e:
        raise MissingRequirement(
            "3D Slicer extension %s is not installed (cannot import %s.%s: %s)" % (extension, module, cls, e),
            "Open 3D Slicer, View > Extensions Manager, install '%s', then restart Slicer." % extension,
        )


def ensure_python_requirements(slicer, logic, args, reporter):
    missing = missing_python_packages()
    if not missing:
        return
    fix = (
        "Open 3D Slicer, go to the TotalSegmentator module and press Apply once on any volume "
        "(it installs PyTorch, nnU-Net and TotalSegmentator), or run the gateway's doctor command."
    )
    if args.install_requirements == "no":
        raise MissingRequirement("Python packages missing in Slicer: %s" % ", ".join(missing), fix)
    if not hasattr(logic, "setupPythonRequirements"):
        raise MissingRequirement("Python packages missing in Slicer: %s" % ", ".join(missing), fix)
    reporter.progress(6, "Installing TotalSegmentator requirements in Slicer (%s); the first time takes 5-10 minutes" % ", ".join(missing))
    try:
        with HeadlessDialogs(slicer, reporter):
            logic.setupPythonRequirements()
    except Exception as e:
        raise MissingRequirement(
            "Python packages missing in Slicer (%s) and installing them failed: %s: %s" % (", ".join(missing), type(e).__name__, e),
            "Install the 'PyTorch' and 'NNUNet' extensions from View > Extensions Manager, then " + fix[0].lower() + fix[1:],
        )
    importlib.invalidate_caches()
    still = missing_python_packages()
    if still:
        raise MissingRequirement("Python packages still missing after installation: %s" % ", ".join(still), "Restart 3D Slicer; then " + fix[0].lower() + fix[1:])


def process_arguments(process, args):
    """Keyword arguments for TotalSegmentatorLogic.process matching the installed extension.

    The signature changed: `fast=True` (2024-2025, Slicer 5.6), `fast, fastest` (Feb 2026), then
    `quality="normal"|"fast"|"faster"` with `fast=` no longer accepted as keyword.
    """
    params = inspect.signature(process).parameters
    kwargs = {}
    notes = []
    if "quality" in params:
        kwargs["quality"] = QUALITY_TO_API[args.quality]
        api = "quality"
    elif "fast" in params:
        api = "fast"
        if "fastest" in params:
            api = "fast+fastest"
            kwargs["fastest"] = args.quality == "fastest"
            kwargs["fast"] = args.quality == "fast"
        else:
            kwargs["fast"] = args.quality != "normal"
            if args.quality == "fastest":
                notes.append("this TotalSegmentator extension has no 'fastest' mode; using 'fast'")
    else:
        raise MissingRequirement(
            "TotalSegmentatorLogic.process%s has neither 'quality' nor 'fast'; this extension version is not supported" % (inspect.signature(process),),
            "Update the TotalSegmentator extension from View > Extensions Manager.",
        )
    if "cpu" in params:
        kwargs["cpu"] = args.device == "cpu"
    if "task" in params:
        kwargs["task"] = args.task
    if args.subset:
        if "subset" not in params:
            raise MissingRequirement("this TotalSegmentator extension cannot segment a subset", "Update the TotalSegmentator extension.")
        kwargs["subset"] = list(args.subset)
    if "interactive" in params:
        kwargs["interactive"] = False
    return kwargs, api, notes


PART_RE = re.compile(r"Predicting part (\d+) of (\d+)")


def segment(slicer, logic, volume_node, args, reporter):
    seg_node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    seg_node.SetName(args.name)
    kwargs, api, notes = process_arguments(logic.process, args)
    for n in notes:
        reporter.log("note: " + n)

    def on_log(message):
        reporter.log("[TotalSegmentator] %s" % message)
        m = PART_RE.search(str(message))
        if m:
            part, total = int(m.group(1)), max(1, int(m.group(2)))
            reporter.progress(15 + 55 * (part - 1) / total, "Segmenting with TotalSegmentator (part %d of %d)" % (part, total))

    if hasattr(logic, "logCallback"):
        logic.logCallback = on_log
    shown = dict(kwargs)
    reporter.log("TotalSegmentatorLogic.process(%s) [api: %s]" % (", ".join("%s=%r" % kv for kv in sorted(shown.items())), api))
    reporter.progress(15, "Segmenting with TotalSegmentator (%s, %s)" % (args.quality, args.device.upper()))
    logic.process(volume_node, seg_node, **kwargs)
    return seg_node, api


def class_ids(task):
    try:
        from totalsegmentator.map_to_binary import class_map
    except Exception:
        return {}
    return {name: int(label) for label, name in class_map.get(task, {}).items()}


def export_label_map(slicer, vtk, seg_node, volume_node, args, out_dir):
    segmentation = seg_node.GetSegmentation()
    ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    if not ids:
        raise RuntimeError("TotalSegmentator found no structures in this volume (is it a %s scan of the body?)" % ("CT" if args.task == "total" else args.task))
    id_array = vtk.vtkStringArray()
    for segment_id in ids:
        id_array.InsertNextValue(segment_id)
    label_node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
    # Segment i of the list gets label value i+1, on the input volume's grid.
    ok = slicer.modules.segmentations.logic().ExportSegmentsToLabelmapNode(seg_node, id_array, label_node, volume_node)
    if ok is False:
        raise RuntimeError("Slicer could not convert the segmentation to a label map")
    label_file = args.name + "_seg.nii.gz"
    if not slicer.util.saveNode(label_node, os.path.join(out_dir, label_file)):
        raise RuntimeError("Slicer could not save the label map to %s" % label_file)

    ts_ids = class_ids(args.task)
    segments = []
    for index, segment_id in enumerate(ids):
        segment = segmentation.GetSegment(segment_id)
        ts_name = segment_id if segment_id in ts_ids else None
        entry = {
            "label": index + 1,
            "segmentId": segment_id,
            "name": segment.GetName(),
            "color": [round(float(c), 6) for c in segment.GetColor()],
        }
        if ts_name is not None:
            entry["totalSegmentatorName"] = ts_name
            entry["totalSegmentatorId"] = ts_ids[ts_name]
        segments.append(entry)
    segments_file = args.name + "_segments.json"
    write_json_atomic(os.path.join(out_dir, segments_file), {"task": args.task, "segments": segments})
    return label_file, segments_file, len(segments)


def export_gltf(slicer, OpenAnatomyExportLogic, seg_node, args, out_dir, reporter):
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
    item = sh.GetItemByDataNode(seg_node)
    before = set(f for f in os.listdir(out_dir) if f.lower().endswith(".gltf"))
    logic = OpenAnatomyExportLogic()
    if hasattr(logic, "logCallback"):
        logic.logCallback = lambda m: reporter.log("[OpenAnatomy] %s" % m)
    logic.exportModel(inputItem=item, outputFolder=out_dir, reductionFactor=args.reduction, outputFormat="glTF")
    # OpenAnatomy names the file after the node, passed through forceFileNameValidCharacters.
    expected = args.name + ".gltf"
    try:
        expected = slicer.app.ioManager().forceFileNameValidCharacters(seg_node.GetName()) + ".gltf"
    except Exception:
        pass
    if os.path.isfile(os.path.join(out_dir, expected)):
        return expected
    new = sorted(f for f in os.listdir(out_dir) if f.lower().endswith(".gltf") and f not in before)
    if new:
        return new[0]
    raise RuntimeError("OpenAnatomy export finished but wrote no .gltf file")


def run(argv, manifest, reporter):
    try:
        import slicer
        import vtk
    except ImportError:
        raise UsageError("this script must run inside 3D Slicer (Slicer --no-main-window --python-script ...)")
    manifest["versions"] = collect_versions(slicer)
    args = manifest["_args"]
    out_dir = args.output_dir
    if not os.path.isfile(args.input):
        raise UsageError("input volume not found: %s" % args.input)

    reporter.progress(2, "Checking 3D Slicer extensions")
    TotalSegmentatorLogic = import_extension_logic("TotalSegmentator", "TotalSegmentatorLogic", "TotalSegmentator")
    OpenAnatomyExportLogic = import_extension_logic("OpenAnatomyExport", "OpenAnatomyExportLogic", "SlicerOpenAnatomy")
    ts_logic = TotalSegmentatorLogic()
    ensure_python_requirements(slicer, ts_logic, args, reporter)
    manifest["versions"] = collect_versions(slicer)

    reporter.progress(10, "Loading the volume into 3D Slicer")
    volume_node = slicer.util.loadVolume(args.input)
    if not volume_node:
        raise RuntimeError("3D Slicer could not load the volume")

    with HeadlessDialogs(slicer, reporter):
        seg_node, api = segment(slicer, ts_logic, volume_node, args, reporter)
    manifest["options"]["api"] = api

    reporter.progress(72, "Saving the label map")
    label_file, segments_file, count = export_label_map(slicer, vtk, seg_node, volume_node, args, out_dir)
    manifest["outputs"]["labelMap"] = label_file
    manifest["outputs"]["segments"] = segments_file
    manifest["segmentCount"] = count

    reporter.progress(78, "Exporting %d structures as glTF (OpenAnatomy)" % count)
    try:
        with HeadlessDialogs(slicer, reporter):
            manifest["outputs"]["gltf"] = export_gltf(slicer, OpenAnatomyExportLogic, seg_node, args, out_dir, reporter)
    except Exception as e:
        # The label map is the result that matters; the gateway's own mesher can make the glTF.
        manifest["warnings"].append("glTF export failed: %s: %s" % (type(e).__name__, e))
        reporter.log(traceback.format_exc())
    reporter.progress(100, "Done")
    return EXIT_OK


def main(argv):
    started = time.time()
    manifest = {
        "format": MANIFEST_VERSION,
        "status": "failed",
        "exitCode": EXIT_FAILED,
        "startedAt": now_iso(),
        "finishedAt": None,
        "durationSeconds": None,
        "options": {},
        "outputs": {"labelMap": None, "segments": None, "gltf": None},
        "versions": {},
        "warnings": [],
        "error": None,
    }
    code = EXIT_FAILED
    out_dir = output_dir_from_argv(argv)
    reporter = Reporter(None)
    try:
        try:
            args = parse_args(argv)
            out_dir = args.output_dir
            os.makedirs(out_dir, exist_ok=True)
            reporter = Reporter(out_dir)
            manifest["_args"] = args
            manifest["options"] = {
                "task": args.task,
                "quality": args.quality,
                "device": args.device,
                "subset": args.subset,
                "reduction": args.reduction,
            }
            code = run(argv, manifest, reporter)
            manifest["status"] = "succeeded"
        except UsageError as e:
            code = EXIT_USAGE
            manifest["error"] = {"kind": "usage", "message": str(e)}
        except MissingRequirement as e:
            code = EXIT_MISSING
            manifest["error"] = {"kind": "missing-requirement", "message": str(e), "fix": e.fix}
        except BaseException as e:  # noqa: B902 - SystemExit/KeyboardInterrupt included: we decide the exit
            code = EXIT_FAILED
            manifest["error"] = {"kind": "processing", "message": "%s: %s" % (type(e).__name__, e)}
            reporter.log(traceback.format_exc())
        if manifest["error"]:
            reporter.log("ERROR: " + manifest["error"]["message"])
            if manifest["error"].get("fix"):
                reporter.log("FIX: " + manifest["error"]["fix"])
    finally:
        try:
            manifest.pop("_args", None)
            manifest["exitCode"] = code
            manifest["finishedAt"] = now_iso()
            manifest["durationSeconds"] = round(time.time() - started, 1)
            if out_dir:
                os.makedirs(out_dir, exist_ok=True)
                write_json_atomic(os.path.join(out_dir, MANIFEST_FILE), manifest)
        except BaseException:
            traceback.print_exc()
        try:
            import slicer

            slicer.mrmlScene.Clear(0)
        except BaseException:
            pass
        sys.exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
