import { open } from 'node:fs/promises';
import { readDicomSeries, type DicomSeriesMeta } from '../volume/dicomSeries.ts';
import type { LabelMap, Volume } from '../volume/volume.ts';
import { alignToGrid } from './alignGrid.ts';
import { framePlanes } from './framePlanes.ts';
import { readHeaderDataset } from './dcmjsData.ts';
import { writeSeg, type SegSegment, type SegWriteResult } from './segWriter.ts';

/**
 * A DICOM SEG for a label map computed from a DICOM series: the label map is put on the series'
 * voxel grid, each frame names the source image it lies on when there is one (framePlanes.ts), and
 * the Patient/Study attributes are copied from the first instance. The grid and images are those the
 * label map was computed from when the caller has them (`series`); otherwise the series is read again.
 */

/** What reading the series gave: its voxel grid (the voxels themselves are not needed) and UIDs. */
export interface ReadSeries {
  grid: Pick<Volume, 'dims' | 'spacing' | 'origin' | 'direction'>;
  meta: DicomSeriesMeta;
}

export interface SegFromSeriesOptions {
  files: string[];
  labelMap: LabelMap;
  segments: SegSegment[];
  algorithmName: string;
  algorithmVersion?: string;
  seriesDescription?: string;
  softwareVersion?: string;
  signal?: AbortSignal;
  /** The series as read for the segmentation; without it the series is read again. */
  series?: ReadSeries;
}

/** The attributes before Pixel Data; a CT header is a few KB, so 1 MB is plenty and stops before pixels. */
async function readHeaderBytes(file: string): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const buf = Buffer.alloc(Math.min(size, 1 << 20));
    await fh.read(buf, 0, buf.length, 0);
    return buf;
  } finally {
    await fh.close();
  }
}

export async function segFromSeries(opts: SegFromSeriesOptions): Promise<SegWriteResult> {
  let series = opts.series;
  if (!series) {
    const read = await readDicomSeries(opts.files, { signal: opts.signal });
    series = { grid: read.volume, meta: read.meta };
  }
  const { grid: volume, meta } = series;
  const onGrid = alignToGrid(opts.labelMap, volume);
  const header = readHeaderDataset(await readHeaderBytes(opts.files[0]));
  const instances = new Map<string, string>();
  for (const slice of meta.slices) instances.set(slice.sopInstanceUid, slice.sopClassUid);
  return writeSeg({
    labelMap: onGrid,
    segments: opts.segments,
    source: {
      header,
      studyInstanceUid: meta.studyInstanceUid,
      seriesInstanceUid: meta.seriesInstanceUid,
      frameOfReferenceUid: meta.frameOfReferenceUid,
      planes: framePlanes(volume, meta.slices),
      instances: [...instances].map(([sopInstanceUid, sopClassUid]) => ({ sopClassUid, sopInstanceUid })),
    },
    algorithmName: opts.algorithmName,
    algorithmVersion: opts.algorithmVersion,
    seriesDescription: opts.seriesDescription,
    softwareVersion: opts.softwareVersion,
  });
}
