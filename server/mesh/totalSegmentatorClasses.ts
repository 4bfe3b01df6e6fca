import type { Rgb, Segment } from '../volume/volume.ts';

/**
 * TotalSegmentator's class map for task `total` (v2: `totalsegmentator/map_to_binary.py`,
 * `class_map["total"]`, ids 1..117; identical in v2.13.0 that Slicer pins and in later releases),
 * with the display colour 3D Slicer gives each structure.
 *
 * Colours: SlicerTotalSegmentator maps each class to a SNOMED CT code and Slicer shows the
 * terminology's `recommendedDisplayRGBValue`, most of which come from Slicer's GenericAnatomyColors
 * table (e.g. liver 221,130,101, spleen 157,108,162, aorta 224,97,76, inferior vena cava 0,151,206,
 * sacrum/scapula 212,188,102, humerus 205,179,108, femur 255,238,170, deep back muscle 171,85,68,
 * pulmonary artery 0,122,171). Where a value could not be confirmed it is the GenericAnatomyColors
 * value of the structure's kind (bone 241,214,145, artery 216,101,79, vein 0,151,206,
 * muscle 192,104,88, organ 221,130,101, lung 197,165,145). Kept as data so it can be corrected
 * without touching code.
 */
type Row = readonly [id: number, name: string, rgb: readonly [number, number, number]];

const BONE = [241, 214, 145] as const;
const VERTEBRA = [241, 214, 145] as const;
const RIB = [241, 214, 145] as const;
const ARTERY = [216, 101, 79] as const;
const VEIN = [0, 151, 206] as const;
const LUNG = [197, 165, 145] as const;
const MUSCLE = [192, 104, 88] as const;

const vertebrae = [
  'S1',
  'L5',
  'L4',
  'L3',
  'L2',
  'L1',
  'T12',
  'T11',
  'T10',
  'T9',
  'T8',
  'T7',
  'T6',
  'T5',
  'T4',
  'T3',
  'T2',
  'T1',
  'C7',
  'C6',
  'C5',
  'C4',
  'C3',
  'C2',
  'C1',
];

const ROWS: Row[] = [
  [1, 'spleen', [157, 108, 162]],
  [2, 'kidney_right', [185, 102, 83]],
  [3, 'kidney_left', [185, 102, 83]],
  [4, 'gallbladder', [139, 150, 98]],
  [5, 'liver', [221, 130, 101]],
  [6, 'stomach', [216, 132, 105]],
  [7, 'pancreas', [249, 180, 111]],
  [8, 'adrenal_gland_right', [249, 186, 150]],
  [9, 'adrenal_gland_left', [249, 186, 150]],
  [10, 'lung_upper_lobe_left', LUNG],
  [11, 'lung_lower_lobe_left', LUNG],
  [12, 'lung_upper_lobe_right', LUNG],
  [13, 'lung_middle_lobe_right', LUNG],
  [14, 'lung_lower_lobe_right', LUNG],
  [15, 'esophagus', [211, 171, 143]],
  [16, 'trachea', [182, 228, 255]],
  [17, 'thyroid_gland', [220, 148, 98]],
  [18, 'small_bowel', [205, 167, 142]],
  [19, 'duodenum', [255, 253, 229]],
  [20, 'colon', [204, 168, 143]],
  [21, 'urinary_bladder', [222, 154, 132]],
  [22, 'prostate', [230, 158, 140]],
  [23, 'kidney_cyst_left', [255, 209, 102]],
  [24, 'kidney_cyst_right', [255, 209, 102]],
  [25, 'sacrum', [212, 188, 102]],
  ...vertebrae.map((v, i): Row => [26 + i, `vertebrae_${v}`, VERTEBRA]),
  [51, 'heart', [206, 110, 84]],
  [52, 'aorta', [224, 97, 76]],
  [53, 'pulmonary_vein', VEIN],
  [54, 'brachiocephalic_trunk', ARTERY],
  [55, 'subclavian_artery_right', ARTERY],
  [56, 'subclavian_artery_left', ARTERY],
  [57, 'common_carotid_artery_right', ARTERY],
  [58, 'common_carotid_artery_left', ARTERY],
  [59, 'brachiocephalic_vein_left', VEIN],
  [60, 'brachiocephalic_vein_right', VEIN],
  [61, 'atrial_appendage_left', [206, 110, 84]],
  [62, 'superior_vena_cava', [0, 141, 226]],
  [63, 'inferior_vena_cava', [0, 151, 206]],
  [64, 'portal_vein_and_splenic_vein', [0, 151, 206]],
  [65, 'iliac_artery_left', ARTERY],
  [66, 'iliac_artery_right', ARTERY],
  [67, 'iliac_vena_left', VEIN],
  [68, 'iliac_vena_right', VEIN],
  [69, 'humerus_left', [205, 179, 108]],
  [70, 'humerus_right', [205, 179, 108]],
  [71, 'scapula_left', [212, 188, 102]],
  [72, 'scapula_right', [212, 188, 102]],
  [73, 'clavicula_left', [205, 179, 108]],
  [74, 'clavicula_right', [205, 179, 108]],
  [75, 'femur_left', [255, 238, 170]],
  [76, 'femur_right', [255, 238, 170]],
  [77, 'hip_left', [212, 188, 102]],
  [78, 'hip_right', [212, 188, 102]],
  [79, 'spinal_cord', [244, 214, 49]],
  [80, 'gluteus_maximus_left', MUSCLE],
  [81, 'gluteus_maximus_right', MUSCLE],
  [82, 'gluteus_medius_left', MUSCLE],
  [83, 'gluteus_medius_right', MUSCLE],
  [84, 'gluteus_minimus_left', MUSCLE],
  [85, 'gluteus_minimus_right', MUSCLE],
  [86, 'autochthon_left', [171, 85, 68]],
  [87, 'autochthon_right', [171, 85, 68]],
  [88, 'iliopsoas_left', MUSCLE],
  [89, 'iliopsoas_right', MUSCLE],
  [90, 'brain', [250, 250, 225]],
  [91, 'skull', BONE],
  ...Array.from({ length: 12 }, (_, i): Row => [92 + i, `rib_left_${i + 1}`, RIB]),
  ...Array.from({ length: 12 }, (_, i): Row => [104 + i, `rib_right_${i + 1}`, RIB]),
  [116, 'sternum', BONE],
  [117, 'costal_cartilages', [111, 184, 210]],
];

function toLinear(rgb: readonly [number, number, number]): Rgb {
  return [rgb[0] / 255, rgb[1] / 255, rgb[2] / 255];
}

/** Class id -> { name, colour (0..1) } for TotalSegmentator's `total` task. */
export const TOTAL_SEGMENTATOR_CLASSES: ReadonlyMap<number, { name: string; color: Rgb }> = new Map(
  ROWS.map(([id, name, rgb]) => [id, { name, color: toLinear(rgb) }]),
);

/** Colour for labels outside the class map: a fixed, distinguishable hue per label. */
function fallbackColor(label: number): Rgb {
  const hue = (label * 0.618033988749895) % 1;
  const h6 = hue * 6;
  const f = h6 - Math.floor(h6);
  const [v, s] = [0.85, 0.55];
  const p = v * (1 - s);
  const q = v * (1 - s * f);
  const t = v * (1 - s * (1 - f));
  const table: Rgb[] = [
    [v, t, p],
    [q, v, p],
    [p, v, t],
    [p, q, v],
    [t, p, v],
    [v, p, q],
  ];
  return table[Math.floor(h6) % 6];
}

/**
 * Segments for the labels present in a TotalSegmentator `--ml` label map (task `total`), named
 * with TotalSegmentator's class names and coloured like Slicer. Unknown labels get a name
 * `label_<n>` and a generated colour rather than being dropped: a label is data someone produced.
 */
export function totalSegmentatorSegments(labels: number[]): Segment[] {
  return [...new Set(labels)]
    .filter((l) => Number.isInteger(l) && l > 0)
    .sort((a, b) => a - b)
    .map((label) => {
      const known = TOTAL_SEGMENTATOR_CLASSES.get(label);
      return known
        ? { label, name: known.name, color: known.color, totalSegmentatorId: label }
        : { label, name: `label_${label}`, color: fallbackColor(label) };
    });
}
