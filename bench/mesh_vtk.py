"""VTK 9 reference for bench/mesh.bench.ts, run on the same label map in the same benchmark run.

Argument: a JSON file {"labels": path of raw uint8 voxels, "dims": [nx, ny, nz], "spacing": [...],
"segments": [[label, ...], ...], "reduction": 0.5}. Each segment's labels are meshed together as one
surface, as the built-in mesher does: vtkDiscreteFlyingEdges3D, vtkWindowedSincPolyDataFilter
(20 iterations), vtkQuadricDecimation. Prints JSON: seconds per stage, triangles, peak RSS.
"""
import json
import resource
import sys
import time

import numpy as np
import vtk
from vtk.util import numpy_support


def main() -> None:
    spec = json.load(open(sys.argv[1]))
    nx, ny, nz = spec["dims"]
    labels = np.fromfile(spec["labels"], dtype=np.uint8).reshape(nz, ny, nx)
    seconds = {"surface": 0.0, "smooth": 0.0, "decimate": 0.0}
    cpu = {"surface": 0.0, "smooth": 0.0, "decimate": 0.0}
    triangles = []

    def timed(stage, algorithm):
        t0, c0 = time.perf_counter(), time.process_time()
        algorithm.Update()
        seconds[stage] += time.perf_counter() - t0
        cpu[stage] += time.process_time() - c0
        return algorithm.GetOutput()

    for segment in spec["segments"]:
        mask = np.isin(labels, segment).astype(np.uint8)
        image = vtk.vtkImageData()
        image.SetDimensions(nx, ny, nz)
        image.SetSpacing(*spec["spacing"])
        image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(mask.ravel(), deep=1, array_type=vtk.VTK_UNSIGNED_CHAR))
        del mask
        surface = vtk.vtkDiscreteFlyingEdges3D()
        surface.SetInputData(image)
        surface.SetValue(0, 1)
        surface.ComputeNormalsOff()
        surface.ComputeGradientsOff()
        mesh = timed("surface", surface)
        smooth = vtk.vtkWindowedSincPolyDataFilter()
        smooth.SetInputData(mesh)
        smooth.SetNumberOfIterations(20)
        smooth.BoundarySmoothingOff()
        smooth.FeatureEdgeSmoothingOff()
        smooth.NonManifoldSmoothingOn()
        smooth.NormalizeCoordinatesOn()
        smoothed = timed("smooth", smooth)
        decimate = vtk.vtkQuadricDecimation()
        decimate.SetInputData(smoothed)
        decimate.SetTargetReduction(spec["reduction"])
        decimated = timed("decimate", decimate)
        triangles.append({"surface": mesh.GetNumberOfCells(), "decimated": decimated.GetNumberOfCells()})
        del image, mesh, smoothed, decimated, surface, smooth, decimate

    print(json.dumps({
        "vtkVersion": vtk.vtkVersion.GetVTKVersion(),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "cpuSeconds": {k: round(v, 3) for k, v in cpu.items()},
        "triangles": triangles,
        "peakRssMb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }))


main()
