import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Rgb, Segment } from '../volume/volume.ts';

/**
 * One name, one colour and one set of codes per anatomical structure, whichever engine segmented it.
 * Engines name segments from here, the mesher writes these names into the glTF and `_segments.json`,
 * and DICOM SEG codes segments from here. The data is structures.csv, which says where each value
 * comes from, so a value can be corrected without touching code.
 */

export interface CodedConcept {
  scheme: string;
  value: string;
  meaning: string;
}

/** Segmented Property Category and Type (with its laterality) and, for lesions, the Anatomic Region. */
export interface SegmentTerminology {
  category: CodedConcept;
  type: CodedConcept;
  typeModifier?: CodedConcept;
  region?: CodedConcept;
  regionModifier?: CodedConcept;
}

export interface Structure {
  /** Class id in TotalSegmentator's `total` task; absent for the built-in engine's structures. */
  id?: number;
  /** TotalSegmentator's class name (`kidney_right`) or the built-in engine's name (`body`). */
  structure: string;
  /** What people read: the glTF node, `_segments.json`, the DICOM SEG segment label. */
  displayName: string;
  /** Linear 0..1. */
  color: Rgb;
  coding: SegmentTerminology;
}

const CATEGORIES: Record<string, CodedConcept> = {
  anatomical: { scheme: 'SCT', value: '123037004', meaning: 'Anatomical Structure' },
  morphological: { scheme: 'SCT', value: '49755003', meaning: 'Morphologically Altered Structure' },
  tissue: { scheme: 'SCT', value: '85756007', meaning: 'Tissue' },
};

const SIDES: Record<string, CodedConcept> = {
  L: { scheme: 'SCT', value: '7771000', meaning: 'Left' },
  R: { scheme: 'SCT', value: '24028007', meaning: 'Right' },
};

/** When nothing is known about a label: SNOMED "Tissue" / "Tissue", as dcmqi and Slicer do for unnamed segments. */
export const UNKNOWN_TERMINOLOGY: SegmentTerminology = {
  category: CATEGORIES.tissue!,
  type: { scheme: 'SCT', value: '85756007', meaning: 'Tissue' },
};

export const STRUCTURES_FILE = join(import.meta.dirname, 'structures.csv');

/** Parses structures.csv; a malformed row is a programming error and throws with its line number. */
export function parseStructuresCsv(text: string): Structure[] {
  const out: Structure[] = [];
  let header = true;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (header) {
      header = false;
      return;
    }
    const where = `${STRUCTURES_FILE}:${i + 1}`;
    const cells = line.split(',');
    if (cells.length !== 13) throw new Error(`${where}: expected 13 columns, found ${cells.length}`);
    const [id, structure, displayName, r, g, b, category, typeCode, typeMeaning, side, regionCode, regionMeaning] =
      cells as [string, string, string, string, string, string, string, string, string, string, string, string];
    const regionSide = cells[12]!;
    const cat = CATEGORIES[category];
    const rgb = [r, g, b].map(Number);
    if (!structure || !displayName || !cat || !/^\d+$/.test(typeCode) || !typeMeaning)
      throw new Error(`${where}: malformed structure row`);
    if (id !== '' && !/^[1-9]\d*$/.test(id)) throw new Error(`${where}: id must be a positive integer`);
    if (!rgb.every((c) => Number.isInteger(c) && c >= 0 && c <= 255)) throw new Error(`${where}: r,g,b must be 0-255`);
    for (const s of [side, regionSide]) if (s && !SIDES[s]) throw new Error(`${where}: side must be L or R`);
    const coding: SegmentTerminology = {
      category: cat,
      type: { scheme: 'SCT', value: typeCode, meaning: typeMeaning },
    };
    if (side) coding.typeModifier = SIDES[side];
    if (regionCode) {
      coding.region = { scheme: 'SCT', value: regionCode, meaning: regionMeaning };
      if (regionSide) coding.regionModifier = SIDES[regionSide];
    }
    out.push({
      ...(id ? { id: Number(id) } : {}),
      structure,
      displayName,
      color: rgb.map((c) => c / 255) as Rgb,
      coding,
    });
  });
  return out;
}

interface Table {
  all: Structure[];
  byId: Map<number, Structure>;
  byKey: Map<string, Structure>;
}

let cached: Table | undefined;

/** Names are matched case-insensitively, with `_` and runs of spaces alike ("kidney right" = "kidney_right"). */
function key(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, ' ');
}

function table(): Table {
  if (cached) return cached;
  const all = parseStructuresCsv(readFileSync(STRUCTURES_FILE, 'utf8'));
  const byId = new Map<number, Structure>();
  const byKey = new Map<string, Structure>();
  for (const s of all) {
    if (s.id !== undefined) byId.set(s.id, s);
    for (const k of [key(s.structure), key(s.displayName)]) {
      const other = byKey.get(k);
      if (other && other !== s) throw new Error(`${STRUCTURES_FILE}: "${k}" names two structures`);
      byKey.set(k, s);
    }
  }
  cached = { all, byId, byKey };
  return cached;
}

/** Every structure of the table: TotalSegmentator's `total` classes (by id), then the built-in engine's. */
export function allStructures(): readonly Structure[] {
  return table().all;
}

/** The `total` task's class with this id. */
export function totalSegmentatorClass(id: number): Structure | undefined {
  return table().byId.get(id);
}

/** By TotalSegmentator class name, display name or built-in engine name. */
export function structureNamed(name: string): Structure | undefined {
  return table().byKey.get(key(name));
}

/** Codes of a segment: by its TotalSegmentator class when it has one, else by its name. */
export function terminologyFor(segment: { name: string; totalSegmentatorId?: number }): SegmentTerminology | undefined {
  const byClass =
    segment.totalSegmentatorId === undefined ? undefined : totalSegmentatorClass(segment.totalSegmentatorId);
  return (byClass ?? structureNamed(segment.name))?.coding;
}

/** Colour for labels outside the table: a fixed, distinguishable hue per label. */
export function fallbackColor(label: number): Rgb {
  const hue = (label * 0.618033988749895) % 1;
  const h6 = hue * 6;
  const f = h6 - Math.floor(h6);
  const [v, s] = [0.85, 0.55];
  const p = v * (1 - s);
  const q = v * (1 - s * f);
  const t = v * (1 - s * (1 - f));
  const sextants: Rgb[] = [
    [v, t, p],
    [q, v, p],
    [p, v, t],
    [p, q, v],
    [t, p, v],
    [v, p, q],
  ];
  return sextants[Math.floor(h6) % 6]!;
}

/**
 * Segments for the labels present in a label map of the `total` task (TotalSegmentator's `--ml`
 * output, label = class id). Unknown labels get the name `label_<n>` and a generated colour rather
 * than being dropped: a label is data someone produced.
 */
export function totalSegmentatorSegments(labels: Iterable<number>): Segment[] {
  return [...new Set(labels)]
    .filter((l) => Number.isInteger(l) && l > 0)
    .sort((a, b) => a - b)
    .map((label) => {
      const known = totalSegmentatorClass(label);
      return known
        ? { label, name: known.displayName, color: [...known.color] as Rgb, totalSegmentatorId: label }
        : { label, name: `label_${label}`, color: fallbackColor(label) };
    });
}
