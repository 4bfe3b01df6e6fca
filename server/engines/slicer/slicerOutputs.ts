import type { Rgb, Segment } from '../../volume/volume.ts';
import { structureNamed } from '../../terminology/structures.ts';

/**
 * What `slicer/segment_and_export.py` leaves in its output folder, narrowed from JSON: manifest.json
 * (the source of truth: exit codes alone cannot tell "extension missing" from "segmentation failed",
 * and on Windows nothing else comes back from Slicer), `<name>_segments.json` and progress.jsonl.
 */

interface ManifestError {
  /** usage | missing-requirement | refused | processing */
  kind: string;
  message: string;
  fix?: string;
}

export interface SlicerManifest {
  status: 'succeeded' | 'failed';
  exitCode: number;
  outputs: { labelMap: string | null; segments: string | null; gltf: string | null };
  versions: Record<string, string>;
  warnings: string[];
  error: ManifestError | null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** Narrows the script's manifest.json; null when it is missing or not the script's format. */
export function parseManifest(text: string): SlicerManifest | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isRecord(raw) || (raw.status !== 'succeeded' && raw.status !== 'failed')) return null;
  const outputs = isRecord(raw.outputs) ? raw.outputs : {};
  const versions: Record<string, string> = {};
  if (isRecord(raw.versions))
    for (const [k, v] of Object.entries(raw.versions)) if (typeof v === 'string') versions[k] = v;
  const err = isRecord(raw.error) ? raw.error : null;
  return {
    status: raw.status,
    exitCode: typeof raw.exitCode === 'number' ? raw.exitCode : -1,
    outputs: { labelMap: str(outputs.labelMap), segments: str(outputs.segments), gltf: str(outputs.gltf) },
    versions,
    warnings: Array.isArray(raw.warnings) ? raw.warnings.filter((w): w is string => typeof w === 'string') : [],
    error: err
      ? {
          kind: str(err.kind) ?? 'processing',
          message: str(err.message) ?? 'unknown error',
          ...(str(err.fix) ? { fix: str(err.fix)! } : {}),
        }
      : null,
  };
}

function clamp01(v: number): number {
  return Math.min(1, Math.max(0, v));
}

/**
 * Narrows `<name>_segments.json` into our Segment table. A segment of a known TotalSegmentator class
 * takes its name and colour from the structure table, as every engine's do (the script already gave
 * Slicer those names before the glTF export); other segments keep what Slicer reported. The class is
 * found by its name (the segment ID), not by the id the installed TotalSegmentator gives it: ids
 * changed between versions, names did not.
 */
export function parseSegmentsFile(text: string): Segment[] {
  const raw: unknown = JSON.parse(text);
  const list = isRecord(raw) && Array.isArray(raw.segments) ? raw.segments : null;
  if (!list) throw new Error('the segments file has no "segments" list');
  return list.map((s, i): Segment => {
    if (!isRecord(s) || typeof s.label !== 'number' || !Number.isInteger(s.label) || s.label < 1) {
      throw new Error(`segment ${i + 1} in the segments file has no valid label`);
    }
    const className = str(s.totalSegmentatorName);
    const known = className ? structureNamed(className) : undefined;
    if (known?.id !== undefined && known.structure === className) {
      return { label: s.label, name: known.displayName, color: [...known.color], totalSegmentatorId: known.id };
    }
    const c =
      Array.isArray(s.color) && s.color.length >= 3 && s.color.every((x) => typeof x === 'number')
        ? (s.color as number[])
        : [0.8, 0.8, 0.8];
    const color: Rgb = [clamp01(c[0]!), clamp01(c[1]!), clamp01(c[2]!)];
    return { label: s.label, name: str(s.name) ?? str(s.totalSegmentatorName) ?? `label_${s.label}`, color };
  });
}

export interface ProgressRecord {
  percent: number;
  status: string;
  /** One of TotalSegmentator's stage lines or bars, passed on by the script. */
  totalsegmentator?: string;
}

export function parseProgress(line: string): ProgressRecord | null {
  try {
    const r: unknown = JSON.parse(line);
    if (isRecord(r) && typeof r.percent === 'number' && typeof r.status === 'string')
      return {
        percent: r.percent,
        status: r.status,
        ...(typeof r.totalsegmentator === 'string' ? { totalsegmentator: r.totalsegmentator } : {}),
      };
  } catch {
    // a half-written line; the next poll has it whole
  }
  return null;
}
