"""Segment a CT/MR volume with TotalSegmentator inside 3D Slicer and export OpenAnatomy glTF.

Run by anatomy-gateway (server/engines/slicer/) as:

    Slicer --no-splash --no-main-window --python-script segment_and_export.py <job.json>

Everything else comes in the job file, never on the command line: Qt takes options such as -name, -display or
-style (one or two dashes) before Slicer hands the rest to the script, and Slicer takes its own. The job file:
  {"input": <volume.nii.gz>, "outputDir": <dir, default: the job file's folder>, "name": <base name>,
   "task": "total", "quality": "normal"|"fast"|"fastest", "device": "gpu"|"cpu"|"mps", "subset": [class names],
   "reduction": 0.9, "structures": {<TotalSegmentator class>: {"name": <display name>, "color": [r, g, b]}}}
"structures" renames and recolours the segments before anything is exported, so every engine of the gateway
gives a structure the same name and colour.

Written for Slicer 5.6 and later. Rules this script keeps, because breaking them hangs or
confuses an unattended server:

* Slicer only exits after --python-script when the script calls sys.exit(): every path ends in
  the `finally` of main() with sys.exit(code), whatever was raised.
* No modal dialog may open (nobody can click it): confirmation dialogs are answered in code.
* Slicer on Windows does not forward print() to the caller, so progress, the log and the result
  also go to files in the output folder: progress.jsonl (one JSON object a line, appended),
  script.log and manifest.json (written last, atomically).

Exit codes: 0 success, 1 processing failed, 2 bad job file, 3 a requirement is missing (extension or
Python package), 4 TotalSegmentator refused the job (a licence, options it rejects); the manifest's "error"
says which and how to fix it.
"""

import datetime
import importlib
import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
import time
import traceback

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_MISSING = 3
EXIT_REFUSED = 4

MANIFEST_VERSION = 1
PROGRESS_FILE = "progress.jsonl"
LOG_FILE = "script.log"
MANIFEST_FILE = "manifest.json"

# Quality names as TotalSegmentator's CLI knows them -> the newer extension API's `quality` values.
QUALITY_TO_API = {"normal": "normal", "fast": "fast", "fastest": "faster"}
DEVICES = ("cpu", "gpu", "mps")


class UsageError(Exception):
    pass


class MissingRequirement(Exception):
    """Something must be installed in Slicer; `fix` tells the user how."""

    def __init__(self, message, fix):
        super().__init__(message)
        self.fix = fix


class Refused(Exception):
    """TotalSegmentator or the extension refused the job; retrying cannot change that."""


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

    def progress(self, percent, status, totalsegmentator=None):
        """A progress record; `totalsegmentator` passes on one of TotalSegmentator's stage lines."""
        percent = max(self.last_percent, min(100, int(percent)))
        self.last_percent = percent
        entry = {"time": now_iso(), "percent": percent, "status": status}
        if totalsegmentator is not None:
            entry["totalsegmentator"] = totalsegmentator
        record = json.dumps(entry)
        print("AGW_PROGRESS " + record, flush=True)
        self._append(PROGRESS_FILE, record)


def write_json_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Job:
    pass


def read_job(argv):
    if len(argv) != 1:
        raise UsageError("expected one argument, the job file (got %d: %s)" % (len(argv), " ".join(argv)))
    path = os.path.abspath(argv[0])
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError("cannot read the job file %s: %s" % (path, e))
    if not isinstance(raw, dict):
        raise UsageError("the job file holds no JSON object")
    job = Job()
    job.output_dir = raw.get("outputDir") or os.path.dirname(path)
    job.input = raw.get("input")
    job.name = raw.get("name")
    job.task = raw.get("task", "total")
    job.quality = raw.get("quality", "normal")
    job.device = raw.get("device", "gpu")
    job.subset = raw.get("subset") or []
    job.reduction = raw.get("reduction", 0.9)
    job.structures = raw.get("structures") or {}
    if not isinstance(job.input, str) or not job.input:
        raise UsageError('"input" must be the path of the volume')
    if not isinstance(job.name, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,128}", job.name) or job.name.startswith("."):
        raise UsageError('"name" must be 1-128 letters, digits, \'.\', \'_\' or \'-\'')
    if not isinstance(job.task, str) or not re.fullmatch(r"[a-z0-9_]+", job.task):
        raise UsageError('"task" must be a TotalSegmentator task name')
    if job.quality not in QUALITY_TO_API:
        raise UsageError('"quality" must be one of %s' % ", ".join(sorted(QUALITY_TO_API)))
    if job.device not in DEVICES:
        raise UsageError('"device" must be one of %s' % ", ".join(DEVICES))
    if not isinstance(job.subset, list) or not all(isinstance(s, str) and s for s in job.subset):
        raise UsageError('"subset" must be a list of class names')
    if not isinstance(job.reduction, (int, float)) or not 0.0 <= job.reduction < 1.0:
        raise UsageError('"reduction" must be between 0 and 1 (fraction of triangles removed)')
    if not isinstance(job.structures, dict):
        raise UsageError('"structures" must map class names to a name and a colour')
    return job


def output_dir_from_argv(argv):
    # Used when the job file cannot be read, so the manifest can still be written next to it.
    return os.path.dirname(os.path.abspath(argv[0])) if len(argv) == 1 else None


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
            detail = str(kwargs.get("detailedText") or "").strip().replace("\n", " ")
            self.reporter.log("[dialog answered %s] %s%s" % ("yes" if answer else "no", str(text).strip(), " (%s)" % detail if detail else ""))
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


def setup_python_requirements(slicer, logic, reporter):
    """The extension's own setupPythonRequirements(), on every run as its Apply button does: it installs PyTorch,
    nnU-Net and TotalSegmentator when missing, and reinstalls the TotalSegmentator version the extension pins
    after the extension was updated. When everything is in place it only checks."""
    fix = (
        "Open 3D Slicer, go to the TotalSegmentator module and press Apply once on any volume "
        "(it installs PyTorch, nnU-Net and TotalSegmentator), or run the gateway's doctor command."
    )
    if not hasattr(logic, "setupPythonRequirements"):
        raise MissingRequirement(
            "this TotalSegmentator extension has no setupPythonRequirements(); it is too old",
            "Update the TotalSegmentator extension from View > Extensions Manager.",
        )
    missing = missing_python_packages()
    if missing:
        reporter.progress(6, "Installing TotalSegmentator's Python packages in Slicer (%s); the first time takes 5-10 minutes and several GB" % ", ".join(missing))
    else:
        reporter.progress(6, "Checking TotalSegmentator's Python packages in Slicer")
    try:
        with HeadlessDialogs(slicer, reporter):
            logic.setupPythonRequirements()
    except Exception as e:
        what = "Python packages missing in Slicer (%s)" % ", ".join(missing) if missing else "TotalSegmentator's Python packages"
        raise MissingRequirement(
            "%s and installing them failed: %s: %s" % (what, type(e).__name__, e),
            "Install the 'PyTorch' and 'NNUNet' extensions from View > Extensions Manager, then " + fix[0].lower() + fix[1:],
        )
    importlib.invalidate_caches()
    still = missing_python_packages()
    if still:
        raise MissingRequirement("Python packages still missing after installation: %s" % ", ".join(still), "Restart 3D Slicer; then " + fix[0].lower() + fix[1:])


def process_arguments(process, job):
    """Keyword arguments for TotalSegmentatorLogic.process matching the installed extension.

    The signature changed: `fast=True` (2024-2025, Slicer 5.6), `fast, fastest` (Feb 2026), then
    `quality="normal"|"fast"|"faster"` with `fast=` no longer accepted as keyword.
    """
    params = inspect.signature(process).parameters
    kwargs = {}
    notes = []
    if "quality" in params:
        kwargs["quality"] = QUALITY_TO_API[job.quality]
        api = "quality"
    elif "fast" in params:
        api = "fast"
        if "fastest" in params:
            api = "fast+fastest"
            kwargs["fastest"] = job.quality == "fastest"
            kwargs["fast"] = job.quality == "fast"
        else:
            kwargs["fast"] = job.quality != "normal"
            if job.quality == "fastest":
                notes.append("this TotalSegmentator extension has no 'fastest' mode; using 'fast'")
    else:
        raise MissingRequirement(
            "TotalSegmentatorLogic.process%s has neither 'quality' nor 'fast'; this extension version is not supported" % (inspect.signature(process),),
            "Update the TotalSegmentator extension from View > Extensions Manager.",
        )
    if "cpu" in params:
        kwargs["cpu"] = job.device == "cpu"
        if job.device == "mps":
            notes.append("the TotalSegmentator extension picks the GPU itself: CUDA when PyTorch sees it, Apple's GPU only where the extension enables MPS, else the CPU")
    if "task" in params:
        kwargs["task"] = job.task
    if job.subset:
        if "subset" not in params:
            raise MissingRequirement("this TotalSegmentator extension cannot segment a subset", "Update the TotalSegmentator extension.")
        kwargs["subset"] = list(job.subset)
    if "interactive" in params:
        kwargs["interactive"] = False
    return kwargs, api, notes


# TotalSegmentator's stage lines (python_api.py, nnunet.py, libs.py) and tqdm bars, passed on to the gateway.
STAGE_RE = re.compile(
    r"^(Predicting\.\.\.|Predicting part \d+ of \d+|\s*Predicted in [\d.]+s$|Resampling\.\.\.$|Saving segmentations\.\.\.$"
    r"|Generating rough segmentation for cropping\.\.\.$|Downloading model for Task \d+|No GPU detected\. Running on CPU\.)"
)
BAR_RE = re.compile(r"^(?:([A-Za-z][\w ]*): )?\s*(\d{1,3})%\|")
LICENCE_START = "In contrast to the other tasks this task is not openly available."


def refusal_in(lines):
    """TotalSegmentator's own sentence when it refused the job (see server/engines/totalSegmentatorOutput.ts)."""
    stripped = [l.strip() for l in lines]
    if LICENCE_START in stripped:
        text = []
        for l in stripped[stripped.index(LICENCE_START):]:
            if l:
                text.append(l)
            if l.startswith("For commercial usage"):
                break
        return " ".join(text)
    for l in reversed(stripped):
        if re.match(r"^ERROR: (A license number has not been set|Invalid license number|Could not find config file)", l):
            return l[len("ERROR: "):]
        m = re.match(r"^ValueError: (.+)$", l) or re.match(r"^TotalSegmentator: error: (.+)$", l)
        if m:
            return m.group(1)
    return None


class TotalSegmentatorOutput:
    """The log callback: TotalSegmentator's lines into the log, its stages and bars to the gateway."""

    def __init__(self, reporter):
        self.reporter = reporter
        self.lines = []
        self.bar_percent = {}

    def __call__(self, message):
        for line in str(message).splitlines() or [""]:
            self.lines.append(line)
            del self.lines[:-400]
            bar = BAR_RE.match(line)
            if bar:
                # A redraw per update would flood the log and the progress file: every 5% and the full bar.
                desc, percent = bar.group(1) or "", int(bar.group(2))
                last = self.bar_percent.get(desc, -100)
                if percent >= 100 or percent < last or percent - last >= 5:
                    self.bar_percent[desc] = percent
                    self.reporter.progress(self.reporter.last_percent, "Segmenting with TotalSegmentator", totalsegmentator=line.strip())
                if percent >= 100:
                    self.reporter.log("[TotalSegmentator] %s" % line.strip())
                continue
            self.reporter.log("[TotalSegmentator] %s" % line)
            if STAGE_RE.match(line):
                self.reporter.progress(self.reporter.last_percent, "Segmenting with TotalSegmentator", totalsegmentator=line.strip())


def segment(slicer, logic, volume_node, job, reporter):
    seg_node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    seg_node.SetName(job.name)
    kwargs, api, notes = process_arguments(logic.process, job)
    for n in notes:
        reporter.log("note: " + n)
    output = TotalSegmentatorOutput(reporter)
    if hasattr(logic, "logCallback"):
        logic.logCallback = output
    reporter.log("TotalSegmentatorLogic.process(%s) [api: %s]" % (", ".join("%s=%r" % kv for kv in sorted(kwargs.items())), api))
    reporter.progress(15, "Segmenting with TotalSegmentator (%s, %s)" % (job.quality, job.device.upper()))
    try:
        logic.process(volume_node, seg_node, **kwargs)
    except subprocess.CalledProcessError as e:
        refusal = refusal_in(output.lines)
        if refusal:
            raise Refused("TotalSegmentator refused the job (exit code %s): %s" % (e.returncode, refusal))
        errors = [l.strip() for l in output.lines if re.match(r"^\w+(Error|Exception): ", l.strip())]
        raise RuntimeError("TotalSegmentator failed with exit code %s%s" % (e.returncode, ": " + errors[-1] if errors else ""))
    except ValueError as e:
        # The extension's own checks (an unknown subset class, no input volume): the same on every attempt.
        raise Refused("the TotalSegmentator extension refused the job: %s" % e)
    return seg_node, api


def class_ids(task):
    try:
        from totalsegmentator.map_to_binary import class_map
    except Exception:
        return {}
    return {name: int(label) for label, name in class_map.get(task, {}).items()}


def apply_structure_names(seg_node, job, reporter):
    """The gateway's name and colour for every TotalSegmentator class it knows (segment ID = class name)."""
    segmentation = seg_node.GetSegmentation()
    renamed = 0
    for i in range(segmentation.GetNumberOfSegments()):
        segment_id = segmentation.GetNthSegmentID(i)
        wanted = job.structures.get(segment_id)
        if not isinstance(wanted, dict):
            continue
        segment = segmentation.GetSegment(segment_id)
        if isinstance(wanted.get("name"), str) and wanted["name"]:
            segment.SetName(wanted["name"])
        color = wanted.get("color")
        if isinstance(color, list) and len(color) == 3 and all(isinstance(c, (int, float)) for c in color):
            segment.SetColor([float(c) for c in color])
        renamed += 1
    reporter.log("named %d of %d segments from the gateway's structure table" % (renamed, segmentation.GetNumberOfSegments()))


def export_label_map(slicer, vtk, seg_node, volume_node, job, out_dir):
    segmentation = seg_node.GetSegmentation()
    ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    if not ids:
        raise RuntimeError("TotalSegmentator found no structures in this volume (is it a %s scan of the body?)" % ("CT" if job.task == "total" else job.task))
    id_array = vtk.vtkStringArray()
    for segment_id in ids:
        id_array.InsertNextValue(segment_id)
    label_node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
    # Segment i of the list gets label value i+1, on the input volume's grid.
    ok = slicer.modules.segmentations.logic().ExportSegmentsToLabelmapNode(seg_node, id_array, label_node, volume_node)
    if ok is False:
        raise RuntimeError("Slicer could not convert the segmentation to a label map")
    label_file = job.name + "_seg.nii.gz"
    if not slicer.util.saveNode(label_node, os.path.join(out_dir, label_file)):
        raise RuntimeError("Slicer could not save the label map to %s" % label_file)

    ts_ids = class_ids(job.task)
    segments = []
    for index, segment_id in enumerate(ids):
        segment = segmentation.GetSegment(segment_id)
        entry = {
            "label": index + 1,
            "segmentId": segment_id,
            "name": segment.GetName(),
            "color": [round(float(c), 6) for c in segment.GetColor()],
        }
        if segment_id in ts_ids:
            entry["totalSegmentatorName"] = segment_id
            entry["totalSegmentatorId"] = ts_ids[segment_id]
        segments.append(entry)
    segments_file = job.name + "_segments.json"
    write_json_atomic(os.path.join(out_dir, segments_file), {"task": job.task, "segments": segments})
    return label_file, segments_file, len(segments)


def export_gltf(slicer, OpenAnatomyExportLogic, seg_node, job, out_dir, reporter):
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
    item = sh.GetItemByDataNode(seg_node)
    before = set(f for f in os.listdir(out_dir) if f.lower().endswith(".gltf"))
    logic = OpenAnatomyExportLogic()
    if hasattr(logic, "logCallback"):
        logic.logCallback = lambda m: reporter.log("[OpenAnatomy] %s" % m)
    logic.exportModel(inputItem=item, outputFolder=out_dir, reductionFactor=job.reduction, outputFormat="glTF")
    # OpenAnatomy names the file after the node, passed through forceFileNameValidCharacters.
    expected = job.name + ".gltf"
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


def run(manifest, reporter):
    try:
        import slicer
        import vtk
    except ImportError:
        raise UsageError("this script must run inside 3D Slicer (Slicer --no-main-window --python-script ...)")
    manifest["versions"] = collect_versions(slicer)
    job = manifest["_job"]
    out_dir = job.output_dir
    if not os.path.isfile(job.input):
        raise UsageError("input volume not found: %s" % job.input)

    reporter.progress(2, "Checking 3D Slicer extensions")
    TotalSegmentatorLogic = import_extension_logic("TotalSegmentator", "TotalSegmentatorLogic", "TotalSegmentator")
    OpenAnatomyExportLogic = import_extension_logic("OpenAnatomyExport", "OpenAnatomyExportLogic", "SlicerOpenAnatomy")
    ts_logic = TotalSegmentatorLogic()
    setup_python_requirements(slicer, ts_logic, reporter)
    manifest["versions"] = collect_versions(slicer)

    reporter.progress(10, "Loading the volume into 3D Slicer")
    volume_node = slicer.util.loadVolume(job.input)
    if not volume_node:
        raise RuntimeError("3D Slicer could not load the volume")

    with HeadlessDialogs(slicer, reporter):
        seg_node, api = segment(slicer, ts_logic, volume_node, job, reporter)
    manifest["options"]["api"] = api
    apply_structure_names(seg_node, job, reporter)

    reporter.progress(72, "Saving the label map")
    label_file, segments_file, count = export_label_map(slicer, vtk, seg_node, volume_node, job, out_dir)
    manifest["outputs"]["labelMap"] = label_file
    manifest["outputs"]["segments"] = segments_file
    manifest["segmentCount"] = count

    reporter.progress(78, "Exporting %d structures as glTF (OpenAnatomy)" % count)
    try:
        with HeadlessDialogs(slicer, reporter):
            manifest["outputs"]["gltf"] = export_gltf(slicer, OpenAnatomyExportLogic, seg_node, job, out_dir, reporter)
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
            job = read_job(argv)
            out_dir = job.output_dir
            os.makedirs(out_dir, exist_ok=True)
            reporter = Reporter(out_dir)
            manifest["_job"] = job
            manifest["options"] = {
                "task": job.task,
                "quality": job.quality,
                "device": job.device,
                "subset": job.subset,
                "reduction": job.reduction,
            }
            code = run(manifest, reporter)
            manifest["status"] = "succeeded"
        except UsageError as e:
            code = EXIT_USAGE
            manifest["error"] = {"kind": "usage", "message": str(e)}
        except MissingRequirement as e:
            code = EXIT_MISSING
            manifest["error"] = {"kind": "missing-requirement", "message": str(e), "fix": e.fix}
        except Refused as e:
            code = EXIT_REFUSED
            manifest["error"] = {"kind": "refused", "message": str(e)}
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
            manifest.pop("_job", None)
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
