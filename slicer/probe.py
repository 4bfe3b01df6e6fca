"""Checks, inside 3D Slicer, what the gateway's Slicer engine needs; used by `main.ts doctor`.

    Slicer --no-splash --no-main-window --python-script probe.py <probe.json>

Writes one JSON object: Slicer version, which extensions are installed and importable, and
whether PyTorch / TotalSegmentator can be imported (with versions, and CUDA availability).
Always ends with sys.exit() so Slicer never stays open.
"""
import importlib
import importlib.util
import json
import os
import sys


def version_of(dist):
    try:
        from importlib import metadata

        return metadata.version(dist)
    except Exception:
        return None


def main(argv):
    # The output path is the one argument (an option name could be taken by Qt or Slicer before the script).
    out = argv[0] if len(argv) == 1 else None
    result = {"ok": False}
    code = 1
    try:
        import slicer

        result["slicer"] = str(slicer.app.applicationVersion)
        em = slicer.app.extensionsManagerModel()
        result["extensions"] = {name: bool(em.isExtensionInstalled(name)) for name in ("TotalSegmentator", "SlicerOpenAnatomy", "PyTorch", "NNUNet")}
        modules = {}
        for module, cls in (("TotalSegmentator", "TotalSegmentatorLogic"), ("OpenAnatomyExport", "OpenAnatomyExportLogic")):
            try:
                getattr(importlib.import_module(module), cls)
                modules[module] = True
            except Exception as e:
                modules[module] = "%s: %s" % (type(e).__name__, e)
        result["modules"] = modules
        packages = {}
        for name, dist in (("torch", "torch"), ("nnunetv2", "nnunetv2"), ("totalsegmentator", "TotalSegmentator")):
            spec = importlib.util.find_spec(name)
            if spec is None:
                packages[name] = None
                continue
            version = version_of(dist)
            try:
                mod = importlib.import_module(name)
                version = version or getattr(mod, "__version__", None) or "installed"
            except Exception as e:
                version = "broken (%s: %s)" % (type(e).__name__, e)
            packages[name] = version
        result["packages"] = packages
        try:
            import torch

            result["cuda"] = bool(torch.cuda.is_available())
        except Exception:
            result["cuda"] = None
        result["ok"] = True
        code = 0
    except BaseException as e:
        result["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        try:
            if out:
                with open(out, "w", encoding="utf-8") as f:
                    json.dump(result, f, indent=2)
            else:
                print(json.dumps(result))
        finally:
            sys.exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
