import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Coded terminology of segments for DICOM SEG (Segment Sequence): Segmented Property Category and Type
 * (with a laterality modifier) and, for lesions, the Anatomic Region. The codes live in a data file
 * (totalsegmentator_snomed.csv) so they can be corrected without touching code.
 */

export interface CodedConcept {
  scheme: string;
  value: string;
  meaning: string;
}

export interface SegmentTerminology {
  category: CodedConcept;
  type: CodedConcept;
  typeModifier?: CodedConcept;
  region?: CodedConcept;
  regionModifier?: CodedConcept;
}

const CATEGORIES: Record<string, CodedConcept> = {
  anatomical: { scheme: 'SCT', value: '123037004', meaning: 'Anatomical Structure' },
  morphological: { scheme: 'SCT', value: '49755003', meaning: 'Morphologically Altered Structure' },
  tissue: { scheme: 'SCT', value: '85756007', meaning: 'Tissue' },
  object: { scheme: 'SCT', value: '260787004', meaning: 'Physical object' },
};

const SIDES: Record<string, CodedConcept> = {
  L: { scheme: 'SCT', value: '7771000', meaning: 'Left' },
  R: { scheme: 'SCT', value: '24028007', meaning: 'Right' },
};

/** When nothing is known about a label: SNOMED "Tissue" / "Tissue", as dcmqi and Slicer do for unnamed segments. */
export const UNKNOWN_TERMINOLOGY: SegmentTerminology = {
  category: CATEGORIES.tissue,
  type: { scheme: 'SCT', value: '85756007', meaning: 'Tissue' },
};

export const TERMINOLOGY_FILE = join(import.meta.dirname, 'totalsegmentator_snomed.csv');

/** Parses the data file; a malformed row is a programming error and throws with its line number. */
export function parseTerminologyCsv(text: string): Map<string, SegmentTerminology> {
  const map = new Map<string, SegmentTerminology>();
  const lines = text.split(/\r?\n/);
  let header = true;
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (header) {
      header = false;
      return;
    }
    const [structure, category, typeCode, typeMeaning, side, regionCode, regionMeaning, regionSide] = line.split(',');
    const cat = CATEGORIES[category];
    if (!structure || !cat || !/^\d+$/.test(typeCode ?? '') || !typeMeaning) {
      throw new Error(`${TERMINOLOGY_FILE}:${i + 1}: malformed terminology row`);
    }
    const t: SegmentTerminology = { category: cat, type: { scheme: 'SCT', value: typeCode, meaning: typeMeaning } };
    if (side) {
      if (!SIDES[side]) throw new Error(`${TERMINOLOGY_FILE}:${i + 1}: side must be L or R`);
      t.typeModifier = SIDES[side];
    }
    if (regionCode) {
      t.region = { scheme: 'SCT', value: regionCode, meaning: regionMeaning ?? '' };
      if (regionSide) t.regionModifier = SIDES[regionSide];
    }
    map.set(structure, t);
  });
  return map;
}

let cached: Map<string, SegmentTerminology> | undefined;

function table(): Map<string, SegmentTerminology> {
  cached ??= parseTerminologyCsv(readFileSync(TERMINOLOGY_FILE, 'utf8'));
  return cached;
}

/**
 * Terminology of a segment by its name (TotalSegmentator class names such as `kidney_left`, or the
 * built-in engine's `body`, `lungs`, `bone`); names are matched case-insensitively with spaces as
 * underscores, since Slicer shows "kidney left". Undefined when unknown.
 */
export function terminologyFor(name: string): SegmentTerminology | undefined {
  const key = name.trim().replace(/\s+/g, '_');
  const t = table();
  return (
    t.get(key) ?? t.get(key.toLowerCase()) ?? [...t.entries()].find(([k]) => k.toLowerCase() === key.toLowerCase())?.[1]
  );
}

/** Every known structure name (tests check the table covers TotalSegmentator's class map). */
export function knownStructures(): string[] {
  return [...table().keys()];
}
