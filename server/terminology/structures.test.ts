import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  allStructures,
  parseStructuresCsv,
  structureNamed,
  terminologyFor,
  totalSegmentatorClass,
  totalSegmentatorSegments,
} from './structures.ts';

const rgb255 = (c: readonly number[]): number[] => c.map((v) => Math.round(v * 255));

/** TotalSegmentator's class_map["total"] as the fake TotalSegmentator package ships it (a second transcription). */
function fixtureClassMap(): Map<number, string> {
  const py = readFileSync(
    resolve(import.meta.dirname, '../../test/fixtures/fake-slicer/python-packages/totalsegmentator/map_to_binary.py'),
    'utf8',
  );
  return new Map([...py.matchAll(/^\s+(\d+): "([a-zA-Z0-9_]+)",$/gm)].map((m) => [Number(m[1]), m[2]!]));
}

test('the table holds every class of the `total` task under its id, and the built-in structures', () => {
  const classes = allStructures().filter((s) => s.id !== undefined);
  const expected = fixtureClassMap();
  assert.equal(expected.size, 117);
  assert.deepEqual(
    classes.map((s) => [s.id, s.structure]),
    [...expected.entries()],
  );
  assert.deepEqual(
    allStructures()
      .filter((s) => s.id === undefined)
      .map((s) => s.structure),
    ['body', 'lungs', 'bone'],
  );
});

test('display names are distinct, readable and carry the side their codes give', () => {
  const names = allStructures().map((s) => s.displayName.toLowerCase());
  assert.equal(new Set(names).size, names.length, 'no two structures share a display name');
  for (const s of allStructures()) {
    assert.doesNotMatch(s.displayName, /_/, `${s.structure}: "${s.displayName}"`);
    const side = s.coding.typeModifier ?? s.coding.regionModifier;
    const named = /(^|_)left($|_)/.test(s.structure) ? 'left' : /(^|_)right($|_)/.test(s.structure) ? 'right' : '';
    if (s.structure === 'lung_middle_lobe_right') {
      // SNOMED CT has one concept for it: "Middle lobe of right lung", no laterality modifier.
      assert.equal(s.coding.type.value, '72481006');
      continue;
    }
    assert.equal(side?.meaning.toLowerCase() ?? '', named, `${s.structure}: side`);
    if (named) assert.match(s.displayName, new RegExp(`\\b${named}\\b`), s.structure);
    assert.equal(s.coding.type.scheme, 'SCT');
    assert.match(s.coding.type.value, /^\d+$/);
  }
});

test('names and colours are those 3D Slicer shows for TotalSegmentator structures', () => {
  const expectations: Array<[string, string, number[]]> = [
    ['kidney_right', 'right kidney', [185, 102, 83]],
    ['liver', 'liver', [221, 130, 101]],
    ['aorta', 'aorta', [224, 97, 76]],
    ['lung_upper_lobe_left', 'superior lobe of left lung', [172, 138, 115]],
    ['vertebrae_L1', 'L1 vertebra', [212, 188, 102]],
    ['rib_left_1', 'left rib 1', [253, 232, 158]],
    ['scapula_right', 'right scapula', [212, 188, 102]],
    ['autochthon_left', 'left deep back muscle', [171, 85, 68]],
    ['sacrum', 'Sacrum', [212, 188, 102]],
  ];
  for (const [structure, name, color] of expectations) {
    const s = structureNamed(structure);
    assert.equal(s?.displayName, name, structure);
    assert.deepEqual(rgb255(s.color), color, structure);
  }
  const cyst = structureNamed('kidney_cyst_left');
  assert.equal(cyst?.displayName, 'left kidney cyst');
  assert.equal(cyst?.coding.category.value, '49755003');
  assert.deepEqual(
    [cyst?.coding.type.meaning, cyst?.coding.region?.meaning, cyst?.coding.regionModifier?.meaning],
    ['Cyst', 'Kidney', 'Left'],
  );
  assert.equal(structureNamed('gluteus_minimus_left')?.coding.type.meaning, 'Gluteus minimus muscle');
});

test('a structure is found by class name, display name or class id, and codes follow it', () => {
  assert.equal(structureNamed('Right Kidney'), structureNamed('kidney_right'));
  assert.equal(structureNamed('kidney right'), totalSegmentatorClass(2));
  assert.equal(terminologyFor({ name: 'right kidney' })?.typeModifier?.value, '24028007');
  // The class id wins over whatever the segment is called.
  assert.equal(terminologyFor({ name: 'my organ', totalSegmentatorId: 5 })?.type.value, '10200004');
  assert.equal(terminologyFor({ name: 'lungs' })?.type.value, '39607008');
  assert.equal(terminologyFor({ name: 'bone' })?.category.value, '85756007');
  assert.equal(terminologyFor({ name: 'no such thing' }), undefined);
  assert.equal(totalSegmentatorClass(118), undefined);
});

test('totalSegmentatorSegments names labels from the table and keeps unknown labels', () => {
  const segs = totalSegmentatorSegments([5, 1, 52, 5, 0, 200]);
  assert.deepEqual(
    segs.map((s) => [s.label, s.name, s.totalSegmentatorId]),
    [
      [1, 'spleen', 1],
      [5, 'liver', 5],
      [52, 'aorta', 52],
      [200, 'label_200', undefined],
    ],
  );
  assert.deepEqual(rgb255(segs[1]!.color), [221, 130, 101]);
  const all = totalSegmentatorSegments(Array.from({ length: 117 }, (_, i) => i + 1));
  assert.equal(new Set(all.map((s) => s.name)).size, 117, 'every class has its own name');
});

test('a malformed row is refused with its line', () => {
  const header =
    'id,structure,display_name,r,g,b,category,type_code,type_meaning,type_modifier,region_code,region_meaning,region_modifier';
  assert.throws(() => parseStructuresCsv(`${header}\n1,liver,liver,1,2,3,anatomical,x,Liver,,,,`), /:2: malformed/);
  assert.throws(() => parseStructuresCsv(`${header}\n1,liver,liver,1,2,300,anatomical,1,Liver,,,,`), /:2: r,g,b/);
  assert.throws(() => parseStructuresCsv(`# note\n${header}\n1,liver,liver,1,2,3,anatomical,1,Liver,X,,,`), /:3: side/);
  assert.throws(() => parseStructuresCsv(`${header}\n1,liver,liver,1,2,3,anatomical,1,Liver`), /13 columns/);
});
