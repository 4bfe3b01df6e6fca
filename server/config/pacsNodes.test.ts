import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from './config.ts';
import { publicNode } from './pacsNodes.ts';

const nodes = (value: unknown): string => JSON.stringify(value);

test('PACS_NODES: unset means no nodes; a full node is parsed with its export rule', () => {
  assert.deepEqual(loadConfig({}).pacsNodes, []);
  const [n] = loadConfig({
    PACS_NODES: nodes([
      {
        name: 'main-pacs',
        dicomweb: { url: 'https://pacs.example/dicom-web/', auth: { username: 'gw', password: 's3cret' } },
        dimse: { host: 'pacs.example', port: 104, aeTitle: 'MAINPACS' },
        export: { retrieved: true, callingAets: ['CT_SCANNER'] },
      },
    ]),
  }).pacsNodes;
  assert.equal(n.name, 'main-pacs');
  assert.equal(n.dicomweb?.url, 'https://pacs.example/dicom-web', 'trailing slash removed');
  assert.deepEqual(n.dicomweb?.auth, { username: 'gw', password: 's3cret' });
  assert.deepEqual(n.dimse, { host: 'pacs.example', port: 104, aeTitle: 'MAINPACS', retrieve: 'get' });
  assert.deepEqual(n.export, { retrieved: true, callingAets: ['CT_SCANNER'] });
});

test('PACS_NODES: the public view never carries credentials', () => {
  const [n] = loadConfig({
    PACS_NODES: nodes([{ name: 'a', dicomweb: { url: 'http://x/dw', auth: { bearer: 'tok-123' } } }]),
  }).pacsNodes;
  const shown = JSON.stringify(publicNode(n));
  assert.doesNotMatch(shown, /tok-123/);
  assert.equal(publicNode(n).dicomweb?.auth, 'bearer');
  assert.equal(publicNode(n).canSearch, true);
});

test('PACS_NODES: each mistake is named precisely, without echoing secrets', () => {
  const bad: Array<[unknown, RegExp]> = [
    ['{"name": "a", "password": "hunter2"', /not valid JSON/],
    [{ name: 'a' }, /must be a JSON list/],
    [[{ name: 'a' }], /node "a" needs "dicomweb" or "dimse"/],
    [[{ name: 'bad name!', dimse: { host: 'h', port: 104, aeTitle: 'X' } }], /node 1\.name "bad name!"/],
    [[{ name: 'a', dicomweb: { url: 'ftp://x' } }], /must start with http/],
    [[{ name: 'a', dicomweb: { url: 'http://u:hunter2@x/dw' } }], /must not carry credentials/],
    [
      [{ name: 'a', dicomweb: { url: 'http://x', auth: { bearer: 't', username: 'u', password: 'p' } } }],
      /either "bearer" or/,
    ],
    [[{ name: 'a', dimse: { host: 'h', port: 70000, aeTitle: 'X' } }], /port must be a whole number/],
    [[{ name: 'a', dimse: { host: 'h', port: 104, aeTitle: 'WAY_TOO_LONG_AE_TITLE' } }], /not a valid AE title/],
    [
      [{ name: 'a', dimse: { host: 'h', port: 104, aeTitle: 'X' }, export: { callingAets: 'CT' } }],
      /list of AE titles/,
    ],
    [[{ name: 'a', dimse: { host: 'h', port: 104, aeTitle: 'X' }, colour: 'red' }], /unknown field "colour"/],
    [
      [{ name: 'a', dimse: { host: 'h', port: 104, aeTitle: 'X', retrieve: 'wado' } }],
      /dimse\.retrieve must be "get" \(C-GET\) or "move" \(C-MOVE\)/,
    ],
    [
      [
        { name: 'a', dimse: { host: 'h', port: 104, aeTitle: 'X' } },
        { name: 'A', dimse: { host: 'h', port: 104, aeTitle: 'X' } },
      ],
      /two nodes are named/,
    ],
  ];
  for (const [value, message] of bad) {
    const raw = typeof value === 'string' ? value : nodes(value);
    assert.throws(
      () => loadConfig({ PACS_NODES: raw }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError, raw);
        assert.equal(e.setting, 'PACS_NODES');
        assert.match(e.message, message, raw);
        assert.doesNotMatch(e.message, /hunter2/);
        return true;
      },
    );
  }
});
